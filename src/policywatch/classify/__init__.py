"""Clause -> OPP-115 categories; clause change -> material or not, and why.

``categorize(text, section)`` gives a clause its categories by weighted cues (``_categories``).
``annotate(changes)`` fills ``categories``, ``material`` and ``reasons`` of each change of a diff.

What counts as material (the contract: a change that "adds or widens a use of personal data ...
or narrows the reader's rights and choices"; it obliges the site to offer an opt-out):

* **added** clause: material when it states, without negation, a practice on personal data and
  names something the old side did not: a data type ("adds data: precise location"), a recipient
  ("adds recipient: advertising partners"), a purpose ("adds purpose: training AI models"), a
  practice that is a widening in itself ("adds practice: selling"), a transfer abroad
  ("adds transfer: United States") or a retention period ("adds retention: 2 years"); or when it
  denies a right or choice ("limits choice: opt out"). A new promise ("we do not share with
  advertisers") or a new right narrows nothing and is not material. List items and table rows
  count even without a verb: their verb is in the lead-in sentence ("We collect:").
* **removed** clause: material when it took away a right or choice ("removes choice: opt out"),
  a promise ("removes promise: no selling to data brokers"), a consent condition
  ("removes condition: your consent"), an "only ..." limit or a bounded retention period
  ("removes retention limit: 30 days"). Removing a practice is never material.
* **modified** clause: the old and new versions are compared fact by fact: anything the
  new one adds (as for *added*), a longer retention ("longer retention: 30 days -> 2 years",
  "until you delete it -> indefinitely"), and anything it drops (as for *removed*); "will not"
  becoming "may" is both a removed promise and an added practice; a promise newly hedged
  ("we do not *currently* sell") is "weakens promise".
* **moved** and **editorial** changes are never material. An editorial change differs only in
  presentation (the contract). A moved clause is the same text in another place; reading order
  does not change what is done with data. (Known gap: a list item moved from under a "we never:"
  lead-in to a "we may:" one changes meaning; its lead-ins are unchanged, so nothing here sees it.)
* **headings** added, removed or edited are never material on their own; the clauses under
  them carry the substance.

Facts are pooled per side: what a removed or modified clause stated on the old side is not
"added" by another clause on the new side (a sentence split in two, a promise restated
elsewhere). Pass ``old_clauses``/``new_clauses`` (all clauses of both documents) to widen the
pools to the whole documents.

Reasons are short, deterministic and de-duplicated, in this order: additions (data, recipients,
purposes, practices, transfers, retention, denied rights), then removals (promises, conditions,
limits, rights and choices).
"""

from __future__ import annotations

from ._categories import categorize
from ._facts import Facts, analyze
from ._material import annotate

__all__ = ["Facts", "analyze", "annotate", "categorize"]
