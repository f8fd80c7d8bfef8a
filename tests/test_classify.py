"""Categories of clauses and materiality of clause changes (policywatch.classify).

Every sentence here was written for these tests; none comes from a real policy or a corpus.
"""

from __future__ import annotations

import pytest

from policywatch.classify import analyze, annotate, categorize
from policywatch.classify._categories import _BODY, _HEADINGS
from policywatch.classify._facts import _CUES
from policywatch.classify._match import CueSet, anchors
from policywatch.models import CATEGORIES, Change, Clause, ClauseKind

# -- helpers --------------------------------------------------------------------------------------


def clause(
    text: str, index: int = 0, section: tuple[str, ...] = (), kind: ClauseKind = "sentence"
) -> Clause:
    return Clause(index=index, kind=kind, text=text, section=section, key=text.lower())


def modified(old: str, new: str) -> Change:
    (change,) = annotate([Change("modified", clause(old), clause(new, 1))])
    return change


def added(text: str, kind: ClauseKind = "sentence") -> Change:
    (change,) = annotate([Change("added", None, clause(text, kind=kind))])
    return change


def removed(text: str) -> Change:
    (change,) = annotate([Change("removed", clause(text), None)])
    return change


# -- categories -----------------------------------------------------------------------------------

TYPICAL = [
    (
        "first-party-collection",
        "We collect the email address and phone number you give us at sign-up.",
    ),
    ("first-party-collection", "We gather details about the device you use to reach the app."),
    ("third-party-sharing", "We may share your order history with our delivery partners."),
    ("third-party-sharing", "Your profile may be disclosed to a buyer if the company is sold."),
    ("user-choice", "You can opt out of the weekly newsletter from your settings page."),
    ("user-choice", "Most browsers let you block or delete cookies."),
    ("user-access", "You may review and correct the information in your account at any time."),
    ("user-access", "You have the right to request a copy of your personal data."),
    ("data-retention", "We retain billing records for seven years to meet tax rules."),
    ("data-retention", "Chat transcripts are deleted after 90 days."),
    ("data-security", "All traffic between the app and our servers is encrypted with TLS."),
    (
        "data-security",
        "We use appropriate technical and organisational measures to protect your data.",
    ),
    ("policy-change", "We may update this privacy notice from time to time."),
    ("policy-change", "If we make material changes to this policy we will email you first."),
    ("do-not-track", "Our site does not respond to Do Not Track signals sent by browsers."),
    ("specific-audiences", "The service is not meant for children under 13."),
    ("specific-audiences", "California residents have additional rights described below."),
    ("introductory", "This policy explains how the Acme app handles information about its users."),
    ("introductory", "We care deeply about your privacy."),
    (
        "contact-information",
        "If you have questions, contact our privacy team at privacy@acme.test.",
    ),
    ("contact-information", "You can reach our data protection officer by post."),
    (
        "practice-not-covered",
        "Our pages contain links to other websites whose practices we do not control.",
    ),
]


@pytest.mark.parametrize(("category", "text"), TYPICAL)
def test_typical_clause_gets_its_category(category: str, text: str) -> None:
    assert category in categorize(text)


def test_every_category_is_covered_by_the_typical_clauses() -> None:
    assert {category for category, _ in TYPICAL} == set(CATEGORIES)


def test_categories_come_in_contract_order_without_repeats() -> None:
    text = (
        "We collect your email address, share it with advertisers, and you can opt out "
        "at any time by writing to privacy@acme.test."
    )
    found = categorize(text)
    assert list(found) == [c for c in CATEGORIES if c in found]
    assert len(found) == len(set(found)) >= 3


def test_a_clause_may_have_no_category() -> None:
    assert categorize("The weather was lovely that spring.") == ()


def test_practice_not_covered_is_only_a_fallback() -> None:
    # combining data fits no other category ...
    assert categorize("We may combine data received from several sources.") == (
        "practice-not-covered",
    )
    # ... but once another category fits, the fallback is not added
    assert "practice-not-covered" not in categorize(
        "We may combine the information we collect from you with data from partners."
    )


def test_heading_path_decides_a_clause_that_says_little_by_itself() -> None:
    text = "Twelve months."
    assert "data-retention" not in categorize(text)
    assert "data-retention" in categorize(text, ("Privacy policy", "How long we keep data"))
    assert "contact-information" in categorize("123 Harbour Road, Springfield", ("Contact us",))


def test_nearest_heading_counts_more_than_its_ancestors() -> None:
    text = "They record which pages you open when you visit."
    under_cookies = categorize(text, ("Cookies",))
    under_top = categorize(text, ("Cookies", "Details"))
    assert "first-party-collection" in under_cookies
    assert "first-party-collection" not in under_top


def test_a_short_heading_is_classified_by_its_own_words() -> None:
    assert "data-security" in categorize("Security")
    assert "specific-audiences" in categorize("Children's privacy")
    assert "do-not-track" in categorize("Do Not Track")


def test_typographic_quotes_and_case_do_not_matter() -> None:
    plain = categorize("We don't sell your data to data brokers.")
    fancy = categorize("WE DON\u2019T SELL YOUR DATA TO DATA BROKERS.")
    assert plain == fancy == ("third-party-sharing",)


# -- speed, structurally (no timing in tests) -----------------------------------------------------


def test_cues_are_anchored_so_they_are_not_tried_at_every_character() -> None:
    patterns = [p for table in (_BODY, _HEADINGS) for cues in table.values() for _, p in cues]
    unanchored = [p for p in patterns if anchors(p) is None]
    # only the e-mail, US phone and "n't" patterns: they start with a literal character, which
    # the re module searches for quickly
    assert len(unanchored) <= 2
    assert all(p.startswith(("@", "\\(")) for p in unanchored)
    assert [_CUES.patterns[i] for i in _CUES.unanchored] == ["n't\\b"]


def test_anchored_search_finds_what_a_plain_search_finds() -> None:
    patterns = [r"\bopt(?:-| )?out\b", r"(?<!social )\bsecur(?:e|ity)\b", r"\b(?:e-?mail|post)al?"]
    cues = CueSet(patterns)
    text = "opt-out, opt out; social security and security; e-mail, email and postal"
    got = sorted((i, m.start()) for i, m in cues.find(text))
    import re

    want = sorted((i, m.start()) for i, p in enumerate(patterns) for m in re.finditer(p, text))
    assert got == want


def test_many_distinct_clauses_classify_consistently() -> None:
    clauses = [f"Clause {i}: we store request logs for {i % 40 + 1} days." for i in range(3000)]
    first = [categorize(c) for c in clauses]
    again = [categorize(c) for c in reversed(clauses)][::-1]
    assert first == again
    assert all("data-retention" in cats for cats in first)


# -- materiality: modified clauses ---------------------------------------------------------------

MODIFIED = [
    # a new recipient
    (
        "We pass your order details to our delivery service providers.",
        "We pass your order details to our delivery service providers and to data brokers.",
        ("adds recipient: data brokers",),
    ),
    # a new data type
    (
        "The app reads your approximate location to show nearby shops.",
        "The app reads your precise location to show nearby shops.",
        ("adds data: precise location",),
    ),
    # a new purpose
    (
        "We analyse your listening history to build your weekly playlist.",
        "We analyse your listening history to build your weekly playlist and to train our "
        "machine learning models.",
        ("adds purpose: training AI models",),
    ),
    # a transfer abroad
    (
        "Your files are stored on servers in Germany.",
        "Your files are stored on servers in Germany and in the United States.",
        ("adds transfer: United States",),
    ),
    # "will not" -> "may"
    (
        "We will not sell your contact list.",
        "We may sell your contact list.",
        ("adds practice: selling", "removes promise: no selling of contacts"),
    ),
    # "do not sell" -> "may sell"
    (
        "We do not sell information about you to anyone.",
        "We may sell information about you to data brokers.",
        ("adds recipient: data brokers", "removes promise: no selling"),
    ),
    # a consent condition dropped
    (
        "We share your health readings with researchers only with your explicit consent.",
        "We share your health readings with researchers.",
        ("removes condition: your consent", "removes limit: only"),
    ),
    # a choice dropped
    (
        "We send product news by email, and you can unsubscribe at any time.",
        "We send product news by email.",
        ("removes choice: unsubscribe",),
    ),
    # a right denied
    (
        "You can delete your account from the settings page.",
        "You cannot delete your account yourself.",
        ("limits right: delete your data", "removes right: delete your data"),
    ),
    # a promise narrowed to one recipient
    (
        "We never sell your data.",
        "We never sell your data to data brokers.",
        ("removes promise: no selling",),
    ),
    # a promise hedged
    (
        "We do not share your messages with advertisers.",
        "We do not currently share your messages with advertisers.",
        ("weakens promise: no sharing with advertising partners",),
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), MODIFIED)
def test_widening_modification_is_material_with_reasons(
    old: str, new: str, expected: tuple[str, ...]
) -> None:
    change = modified(old, new)
    assert change.material
    for reason in expected:
        assert any(r.startswith(reason) for r in change.reasons), (reason, change.reasons)


NOT_MATERIAL = [
    # narrowing: fewer recipients
    (
        "We share your order details with couriers and advertisers.",
        "We share your order details with couriers.",
    ),
    # a new promise
    (
        "We store your photos on our servers.",
        "We store your photos on our servers and never sell them.",
    ),
    # rewording with the same facts
    (
        "We collect your name and e-mail address when you sign up.",
        "When you sign up, we collect your e-mail address and your name.",
    ),
    # a promise widened to everyone
    ("We never sell your data to data brokers.", "We never sell your data."),
    # a new right
    ("We keep a record of your orders.", "We keep a record of your orders, which you can export."),
    # negated recipient added: a promise, not a practice
    (
        "We share your purchase history with our payment processors.",
        "We share your purchase history with our payment processors, but we do not share it "
        "with advertisers.",
    ),
]


@pytest.mark.parametrize(("old", "new"), NOT_MATERIAL)
def test_narrowing_or_neutral_modification_is_not_material(old: str, new: str) -> None:
    change = modified(old, new)
    assert not change.material, change.reasons
    assert change.reasons == ()


# -- retention ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (
            "We keep support tickets for 30 days.",
            "We keep support tickets for 2 years.",
            "longer retention: 30 days -> 2 years",
        ),
        (
            "We keep support tickets for six months.",
            "We keep support tickets for eighteen months.",
            "longer retention: 6 months -> 18 months",
        ),
        (
            "We keep your playlists until you delete them.",
            "We keep your playlists indefinitely.",
            "longer retention: until you delete it -> indefinitely",
        ),
        (
            "Server logs are kept for 14 days.",
            "Server logs are kept for as long as necessary.",
            "longer retention: 14 days -> as long as necessary",
        ),
        (
            "Server logs are kept for 14 days.",
            "Server logs are kept.",
            "removes retention limit: 14 days",
        ),
    ],
)
def test_longer_retention_is_material(old: str, new: str, reason: str) -> None:
    change = modified(old, new)
    assert change.material
    assert reason in change.reasons


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("We keep support tickets for 2 years.", "We keep support tickets for 30 days."),
        ("We keep your playlists indefinitely.", "We keep your playlists until you delete them."),
        ("We keep chat logs for one year.", "We keep chat logs for 12 months."),
        ("Server logs are kept for as long as necessary.", "Server logs are kept for 14 days."),
    ],
)
def test_shorter_or_equal_retention_is_not_material(old: str, new: str) -> None:
    assert not modified(old, new).material


# -- added and removed clauses -------------------------------------------------------------------


def test_added_practice_names_what_it_adds() -> None:
    change = added("We may share your precise location with advertising partners.")
    assert change.material
    assert change.reasons == (
        "adds data: precise location",
        "adds recipient: advertising partners",
    )


def test_added_retention_and_transfer() -> None:
    kept = added("We keep voice recordings for 3 years.")
    assert kept.reasons == ("adds data: voice recordings", "adds retention: 3 years")
    moved_abroad = added("Your account data may be transferred to the United States.")
    assert moved_abroad.reasons == ("adds transfer: United States",)


@pytest.mark.parametrize(
    "text",
    [
        "We do not share your location with advertisers.",
        "We will never sell your personal information.",
        "You can opt out of personalised ads in your settings.",
        "You may ask us to correct inaccurate data.",
        "Chat transcripts are deleted after 90 days.",
        "Never share your password with anyone.",
        "If you have any questions, write to us.",
        "There is no guarantee that data will not be intercepted in transit.",
    ],
)
def test_added_promise_right_or_advice_is_not_material(text: str) -> None:
    change = added(text)
    assert not change.material, change.reasons


def test_added_list_item_counts_without_a_verb() -> None:
    # the verb is in the lead-in ("We collect:"), the item names the data
    assert added("Precise location", kind="item").reasons == ("adds data: precise location",)
    assert not added("Precise location").material  # a sentence fragment states no practice


def test_added_denied_choice_is_material() -> None:
    change = added("You cannot opt out of service announcements.")
    assert change.reasons == ("limits choice: opt out",)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("We never sell your data to data brokers.", "removes promise: no selling to data brokers"),
        ("You can withdraw your consent at any time.", "removes choice: withdraw consent"),
        ("You have the right to lodge a complaint with a regulator.", "removes right: complain"),
        ("We use your email address only to send receipts.", "removes limit: only"),
        ("We delete raw sensor readings after 7 days.", "removes retention limit: 7 days"),
        (
            "We will not share your contacts without your permission.",
            "removes condition: your consent",
        ),
    ],
)
def test_removed_promise_right_or_limit_is_material(text: str, reason: str) -> None:
    change = removed(text)
    assert change.material
    assert any(r.startswith(reason) for r in change.reasons), change.reasons


def test_removed_practice_is_not_material() -> None:
    assert not removed("We share your e-mail address with advertising partners.").material


# -- negation --------------------------------------------------------------------------------------


def test_negation_reads_statement_by_statement() -> None:
    facts = analyze("We collect your e-mail address, but we do not sell it.")
    assert facts.data == ("email address",)
    assert facts.practices == ("collect",)
    assert facts.promises == (("sell", "", ""),)


def test_except_turns_a_promise_into_a_practice() -> None:
    facts = analyze("We do not share your data with anyone except our service providers.")
    assert facts.recipients == ("service providers",)
    assert ("share", "", "") in facts.promises


def test_phrases_with_not_that_negate_nothing() -> None:
    facts = analyze("We collect data including, but not limited to, your name and IP address.")
    assert facts.promises == ()
    assert set(facts.data) >= {"name", "IP address"}
    assert analyze("If you do not want us to use cookies, you can block them.").promises == ()


def test_removing_a_negated_sharing_statement_is_material_adding_it_is_not() -> None:
    promise = "We do not share your browsing history with advertisers."
    assert not added(promise).material
    assert "removes promise: no sharing with advertising partners" in removed(promise).reasons


# -- editorial, moved, headings, pooling ---------------------------------------------------------


def test_editorial_and_moved_changes_are_never_material() -> None:
    old = clause("We may sell your data to data brokers.")
    new = clause("We may *sell* your data to data brokers.", index=9)
    changes = annotate([Change("editorial", old, new), Change("moved", old, new)])
    assert [c.material for c in changes] == [False, False]
    assert [c.reasons for c in changes] == [(), ()]
    assert changes[0].categories == ("third-party-sharing",)


def test_heading_changes_are_not_material() -> None:
    heading = clause("Selling your data to brokers", kind="heading")
    (change,) = annotate([Change("added", None, heading)])
    assert not change.material


def test_a_sentence_split_in_two_adds_nothing() -> None:
    old = clause("We share your email address and phone number with couriers.")
    first = clause("We share your email address with couriers.")
    second = clause("We also share your phone number with couriers.", index=1)
    changes = annotate([Change("modified", old, first), Change("added", None, second)])
    assert [c.material for c in changes] == [False, False]


def test_a_promise_restated_elsewhere_is_not_removed() -> None:
    gone = clause("We never sell your data.")
    restated = clause("Your data is never sold.", index=4)
    changes = annotate([Change("removed", gone, None), Change("added", None, restated)])
    assert not any(c.material for c in changes)


def test_whole_documents_widen_the_pools() -> None:
    elsewhere = clause("We share your email address with advertising partners.", index=7)
    new = clause("Advertising partners may receive your email address.", index=3)
    (alone,) = annotate([Change("added", None, new)])
    (pooled,) = annotate([Change("added", None, new)], old_clauses=[elsewhere])
    assert alone.material
    assert not pooled.material


def test_categories_of_each_change_kind() -> None:
    old = clause("We keep your messages for 30 days.")
    new = clause("We keep your messages for 30 days and share them with partners.")
    mod, rem, add = annotate(
        [Change("modified", old, new), Change("removed", old, None), Change("added", None, new)]
    )
    assert set(mod.categories) == set(rem.categories) | set(add.categories)
    assert rem.categories == ("data-retention",)
    assert "third-party-sharing" in add.categories


def test_reasons_are_deterministic_and_unique() -> None:
    old = "We share your name with couriers."
    new = "We share your name, phone number and phone number with couriers, couriers and brokers."
    first = modified(old, new).reasons
    assert first == modified(old, new).reasons
    assert len(first) == len(set(first))


def test_annotate_returns_copies_and_keeps_the_input() -> None:
    change = Change("added", None, clause("We sell your data to data brokers."))
    (out,) = annotate([change])
    assert out is not change and out.material and not change.material
    assert out.new == change.new and out.words == change.words


def test_a_change_missing_its_clause_is_a_bug_that_says_so() -> None:
    with pytest.raises(ValueError, match="'added' change needs its new clause"):
        annotate([Change("added", None, None)])
    with pytest.raises(ValueError, match="'modified' change needs both"):
        annotate([Change("modified", clause("x"), None)])
