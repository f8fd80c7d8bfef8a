"""policywatch: keep the promise to post, notify and let readers opt out of policy changes."""
