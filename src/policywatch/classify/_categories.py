"""Clause -> OPP-115 categories, by weighted cues.

Each category owns a list of ``(weight, pattern)`` cues for the clause text and another for the
headings above it. A category is given when the weights of the distinct cues that match add up to
``THRESHOLD``: one strong cue is enough ("opt out", "do not track", an e-mail address), weak cues
("cookies", "protect", a data term) only count together or with a heading that agrees.

Why cues and not a trained model: the only labelled data at hand (OPP-115) is licensed for
non-commercial research, so nothing here is learnt from it; the rules are written from how privacy
policies are phrased and only *measured* against it (``bench/classify_bench.py``).

Speed: all cues of all categories go into one :class:`~._match.CueSet`, which tries a cue only
where a word starts with one of its first letters; a sentence costs some 20-30 µs, so the CLI can
classify whole policies and ``jsonl`` streams (>= 5,000 clauses/s is the target, see the bench).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from ..models import CATEGORIES
from . import _cache
from ._match import CueSet
from ._text import fold

__all__ = ["THRESHOLD", "categorize"]

#: score a category needs before it is given
THRESHOLD = 1.0

Cues = tuple[tuple[float, str], ...]

# -- shared vocabulary ---------------------------------------------------------------------------

_DATA = (
    r"(?:(?:personal|personally identifiable|user|usage|account|contact|profile|location|device|"
    r"log|technical|demographic|financial|payment|billing|health|biometric|sensitive|"
    r"non-personal|aggregated?|de-identified|anonymi[sz]ed) )?(?:information|data|details)"
)
_WE = r"(?:we|us|our company|the company|our (?:site|website|app|service|services|platform))"
_MODAL = r"(?: (?:may|might|will|can|could|shall|would|also|only|automatically|generally|"
_MODAL += r"typically|sometimes|occasionally|routinely|then|further|additionally|not|never))*"
_COLLECT_V = r"(?:collect|gather|obtain|receive|record|capture|log|acquire|request|ask for|"
_COLLECT_V += r"access|infer|derive|track|monitor)"
_SHARE_V = (
    r"(?:shar(?:e|es|ed|ing)|disclos(?:e|es|ed|ing|ure)|sell(?:s|ing)?|sold|sale|rent(?:s|ed|ing)?|"
    r"trad(?:e|es|ed|ing)|leas(?:e|es|ed|ing)|transfer(?:s|red|ring)?|release[sd]?|"
    r"make (?:it |them |such information )?available|made available|pass(?:ed)? (?:on|along)|"
    r"provided? (?:it |them |this information |such information |your \w+ )?to)"
)
_RECIPIENT = (
    r"(?:third[- ]part(?:y|ies)|(?:business |marketing |advertising |trusted |select(?:ed)? |"
    r"strategic |joint marketing |co-branding |commercial |our )?partners|affiliat(?:e|es|ed)|"
    r"subsidiar(?:y|ies)|parent company|sister compan(?:y|ies)|group companies|"
    r"service providers?|vendors?|contractors?|processors?|suppliers?|agents?|advertisers?|"
    r"ad(?:vertising)? networks?|ad servers?|sponsors?|data brokers?|resellers?|"
    r"law enforcement|government(?:al)? (?:agencies|authorities|officials|entities)|"
    r"public authorities|regulators?|courts?|"
    r"analytics (?:providers?|companies|partners|services?)|social (?:media|network)s?|"
    r"other (?:companies|organi[sz]ations|businesses|users|members|entities|parties)|"
    r"outside (?:companies|parties|organi[sz]ations)|unaffiliated|non-affiliated|"
    r"successors?|acquirers?|purchasers?|buyers?)"
)

# -- body cues -----------------------------------------------------------------------------------

_FIRST_PARTY: Cues = (
    (1.0, rf"\b{_WE}{_MODAL} {_COLLECT_V}\w*"),
    (1.0, rf"\b{_DATA} (?:that |which )?{_WE}{_MODAL} (?:collect|gather|obtain|receive|process)"),
    (
        1.0,
        r"\b(?:is|are|be|been|being|get|gets)(?: automatically| also| only)? (?:collected|gathered|"
        r"obtained|recorded|logged|captured|received)\b",
    ),
    (1.0, rf"\b(?:collection|gathering|processing) of (?:your |the |any |such |this )?{_DATA}"),
    (
        1.0,
        rf"\b{_WE}{_MODAL} (?:use|process|analy[sz]e|store)s? "
        rf"(?:your |the |this |such |that |any |all |certain |some |these |aggregated? )?"
        rf"(?:{_DATA}|cookies|e-?mail address|ip address|it|them|location|contact)",
    ),
    (0.7, rf"\b{_WE}{_MODAL} (?:use|uses|process|processes)\b"),
    (
        1.0,
        r"\b(?:you|users?|visitors?|customers?|members?) (?:may |can |will |might |choose to |"
        r"voluntarily |are asked to |are required to |must )*(?:provide|submit|give|send|enter|"
        r"share|upload|post|disclose)s? (?:to )?(?:us|to us|your|personal|information|"
        r"certain|some|the following)",
    ),
    (1.0, r"\b(?:provided|submitted|supplied|entered) by you\b|\byou (?:provide|give) us\b"),
    (0.7, rf"\b(?:use|uses|using|processing) (?:of )?(?:your |this |such |the )?{_DATA}\b"),
    (
        0.5,
        r"\bcookies?\b|\bweb beacons?\b|\bpixel(?: tag)?s?\b|\bclear gifs?\b|\blog files?\b|"
        r"\blocal storage\b|\bflash cookies\b|\btracking technolog(?:y|ies)\b|\bsdks?\b",
    ),
    (
        0.3,
        r"\b(?:e-?mail address|(?:tele)?phone number|mailing address|postal address|ip address|"
        r"browser type|operating system|device (?:id|identifiers?|type|information)|"
        r"geo-?location|gps|date of birth|credit card|payment information|"
        r"name(?:,| and)|demographic|zip code|postal code|gender|age)\b",
    ),
    (
        0.3,
        r"\bwhen you (?:register|sign up|create an account|make a purchase|order|visit|browse|"
        r"use|access|interact|contact us|subscribe|participate|enter|apply|download|install)",
    ),
    (
        0.4,
        r"\b(?:in order )?to (?:provide|improve|personali[sz]e|customi[sz]e|operate|deliver|"
        r"process|fulfil|fulfill|respond|administer|understand|analy[sz]e|enhance|develop|"
        r"communicate|send you|contact you|verify|prevent|measure|tailor)\b",
    ),
    (0.2, rf"\b{_DATA}\b"),
    (0.5, r"\b(?:is|are|be) (?:then |also )?used (?:to|for|by us)\b"),
)

_THIRD_PARTY: Cues = (
    (1.0, rf"\b{_SHARE_V}\b[^.;]{{0,80}}?\b(?:with|to|by) (?:\w+ ){{0,3}}{_RECIPIENT}"),
    (
        1.0,
        rf"\b{_RECIPIENT}\b[^.;]{{0,60}}?\b(?:may |also |will |can |might )*(?:collect|"
        r"use|receive|obtain|gather|place|set|access|track|serve|have access)",
    ),
    (0.8, rf"\b{_SHARE_V}\b"),
    (1.0, rf"\b{_WE}{_MODAL} (?:and (?:may |will )?\w+ )?{_SHARE_V}"),
    (
        0.6,
        r"\b(?:publicly (?:available|visible|accessible|displayed)|visible to (?:other|all|the "
        r"public|anyone)|public (?:profile|forums?|areas?)|message boards?|chat rooms?|forums?)\b",
    ),
    (0.6, r"\b(?:have|has|given|granted|gain) access to (?:\w+ ){0,2}(?:information|data)"),
    (
        1.0,
        r"\b(?:google analytics|google adsense|doubleclick|facebook pixel|adobe analytics|"
        r"advertis(?:ers|ing partners|ing networks|ing companies)|ad networks?|ad servers?|"
        r"analytics (?:providers?|services?|partners|companies|tools?)|data brokers?)\b",
    ),
    (
        0.8,
        r"\b(?:subpoena|court order|legal process|law enforcement|government(?:al)? "
        r"(?:agencies|authorities|requests)|required by law|comply with (?:a |any |the )?"
        r"(?:law|legal|applicable))",
    ),
    (
        0.8,
        r"\b(?:merger|acquisition|acquired|sale of (?:all|substantially|some|our|the company|"
        r"assets)|bankruptcy|reorgani[sz]ation|change of control|business transfer|"
        r"divestiture)\b",
    ),
    (0.6, r"\bsocial (?:media|network(?:ing)?) (?:plug-?ins?|features?|widgets?|buttons?|sites?)"),
    (0.5, rf"\b{_RECIPIENT}\b"),
)

_CHOICE: Cues = (
    (1.0, r"\bopt(?:ing|s|ed)?[- ]?(?:out|in)\b|\bopt-?out\b"),
    (1.0, r"\bunsubscrib"),
    (1.0, r"\bwithdraw(?:al of|ing|n)? (?:your |their )?consent\b"),
    (
        1.0,
        r"\b(?:disable|block|reject|refuse|decline|delete|remove|clear|manage|control|turn off|"
        r"switch off|deactivate|accept)s? (?:all |some |certain |any |third[- ]party |the |"
        r"these |such |our )?(?:cookies|tracking|location services|notifications)",
    ),
    (
        0.8,
        r"\b(?:browser|cookie|privacy|account|device|notification|ad|advertising) "
        r"(?:settings?|preferences|controls|options)\b|\bsettings of your browser\b",
    ),
    (
        1.0,
        r"\byou (?:may|can|could|have the (?:option|choice|right|ability)|are (?:free|able)) "
        r"(?:to )?(?:always )?(?:decline|elect not|refuse|opt|object|limit|restrict|stop|"
        r"disable|adjust|change your (?:preferences|settings))",
    ),
    (
        0.6,
        r"\byou (?:may|can|could|have the (?:option|choice|ability)|are free) (?:to )?"
        r"(?:choose|elect)",
    ),
    (0.6, r"\bchoices?\b|\bchoose (?:not|whether)\b"),
    (0.3, r"\bpreferences\b"),
    (0.5, r"\bconsent\b|\bpermission\b|\bagree(?:ment)? to\b"),
    (
        0.6,
        r"\bif you (?:do not|don't|would not|would prefer not|prefer not|no longer) "
        r"(?:want|wish|agree|consent|like)",
    ),
    (
        1.0,
        r"\bnetwork advertising initiative\b|\bnai\b|\baboutads\b|\bdigital advertising alliance\b|"
        r"\byouronlinechoices\b|\bad choices\b|\bdo not sell (?:or share )?my\b|"
        r"\bglobal privacy control\b",
    ),
    (0.7, r"\b(?:object to|restrict(?:ion of)?) (?:the |our |such )?processing\b"),
    (0.5, r"\bby (?:using|accessing|visiting|continuing to use|registering)\b"),
    (0.4, r"\b(?:instructions|link) (?:in|at the bottom of|included in) (?:the|any|each|our)"),
)

_ACCESS: Cues = (
    (
        1.0,
        r"\b(?:access|review|view|update|correct|amend|edit|modify|rectify|delete|erase|remove|"
        r"change|obtain a copy of|download|export)(?:,? (?:or |and |and/or )?(?:access|review|"
        r"view|update|correct|amend|edit|modify|rectify|delete|erase|remove|change))* "
        r"(?:all |any |some |certain |the |your |their |such |this |that |inaccurate |"
        r"incorrect |personal |personally identifiable |account |profile |of |contact )*"
        r"(?:information|data|details|profile|account|personal information|records?|"
        r"registration)",
    ),
    (
        0.7,
        r"\b(?:correct|update|amend|edit|modify|rectify|delete|erase|remove|review)(?: and/or| or|"
        r" and)? (?:\w+ )?(?:it|them)\b|\b(?:access|changes?|updates?|corrections?) to your "
        r"(?:\w+ )?(?:information|data|account|profile)",
    ),
    (
        1.0,
        r"\bright (?:of|to) (?:request )?(?:access|rectification|erasure|portability|"
        r"be forgotten|delete|deletion|correct|correction|know|obtain|receive a copy)|"
        r"\bdata portability\b|\b(?:a )?copy of (?:your|the|any) (?:personal )?"
        r"(?:information|data)",
    ),
    (
        1.0,
        r"\brequest (?:that we )?(?:access|deletion|erasure|correction|a copy|to (?:access|"
        r"delete|correct|see)|(?:to )?(?:delete|correct|update|remove))",
    ),
    (0.8, r"\b(?:delete|close|deactivate|cancel|terminate) (?:your |their )?(?:account|profile)"),
    (
        0.5,
        r"\baccount (?:settings|page|area|section)\b|\bprofile (?:page|settings)\b|"
        r"\blog(?:ging)? ?in(?:to| to) your account|\bmy (?:account|profile)\b",
    ),
    (0.3, r"\b(?:inaccurate|incomplete|out of date|outdated)\b"),
)

_RETENTION: Cues = (
    (1.0, r"\bretain|\bretention\b|\bretained\b"),
    (
        0.5,
        r"\b(?:keep|keeps|kept|store|stores|stored|storing|hold|held|preserve[sd]?|maintain(?:s|ed)?"
        r"|archive[sd]?)\b",
    ),
    (
        0.5,
        r"\b(?:for|up to|within|after|than) (?:a (?:period|maximum) of )?(?:up to )?"
        r"(?:\d+|one|two|three|four|five|six|seven|ten|twelve|eighteen|twenty-four|thirty|"
        r"sixty|ninety) ?\(?\d*\)? ?(?:days?|weeks?|months?|years?)\b",
    ),
    (
        0.8,
        r"\bas long as (?:(?:is|it is|we deem|reasonably) )?(?:necessary|needed|required|"
        r"your account|you|we have a|permitted|the account)|\bindefinitely\b|\bpermanently\b|"
        r"\bno longer (?:needed|necessary|required)\b|\bperiod of time\b|\bfor the duration\b",
    ),
    (
        0.6,
        r"\b(?:deleted?|erased?|purged?|destroyed?|anonymi[sz]ed?|de-identified|removed) "
        r"(?:\w+ )?(?:after|within|once|when|upon|at the end|no later)",
    ),
    (0.4, r"\bbackups?\b|\barchives\b|\bresidual copies\b"),
)

_SECURITY: Cues = (
    (1.0, r"\bencrypt|\bssl\b|\btls\b|\bsecure sockets?\b|\bhttps\b|\bfirewalls?\b"),
    (
        1.0,
        r"\b(?:reasonable|appropriate|adequate|industry[- ]standard|commercially reasonable|"
        r"technical|organi[sz]ational|administrative|physical|electronic|procedural|"
        r"security) (?:and \w+ )?(?:measures|steps|precautions|safeguards|controls|protections|"
        r"procedures)\b",
    ),
    (1.0, r"\bunauthori[sz]ed (?:access|use|disclosure|alteration|acquisition)|\bdata breach"),
    (0.8, r"(?<!social )\bsecur(?:e|ed|ely|ity|ing)\b"),
    (0.5, r"\bsafeguard|\bprotect(?:s|ed|ing|ion)?\b"),
    (
        0.8,
        r"\b(?:cannot|can't|can not|do not|does not) (?:guarantee|ensure|warrant|promise)|"
        r"\bno (?:method|system|transmission|data transmission|security)\b|\b100% secure\b",
    ),
    (0.5, r"\bpasswords?\b|\bconfidential(?:ity)?\b|\baccess controls?\b|\bneed to know\b"),
)

_CHANGE: Cues = (
    (
        1.0,
        r"\b(?:change|changes|update|updates|modify|modifies|modification|amend|amends|amendment|"
        r"revise|revises|revision|alter)s?\b[^.;]{0,40}\b(?:this|these|our|the) (?:online )?"
        r"(?:privacy )?(?:policy|policies|statement|notice)\b",
    ),
    (
        1.0,
        r"\b(?:this|our|the) (?:privacy )?(?:policy|statement|notice)\b[^.;]{0,40}?\b"
        r"(?:may|will|might|is subject to|can)? ?(?:be )?(?:change|update|modif|amend|revis)",
    ),
    (1.0, r"\beffective date\b|\blast (?:updated|revised|modified|amended)\b"),
    (0.6, r"\b(?:material|significant|substantial) changes?\b"),
    (
        0.6,
        r"\b(?:check|review|visit|consult) (?:this (?:page|policy)|back|periodically|regularly|"
        r"frequently)|\bfrom time to time\b",
    ),
    (0.5, r"\bcontinued use\b|\bcontinue to use\b"),
    (
        0.4,
        r"\b(?:notify|inform|notice to) you\b|\bpost(?:ing)? (?:the|a|an|any) (?:new|updated|"
        r"revised|notice)",
    ),
)

_DNT: Cues = (
    (1.0, r"\bdo[- ]not[- ]track\b|\bdnt\b"),
    (
        0.6,
        r"\bbrowser(?:s)? (?:signals?|settings?|features?) (?:that|to|which) (?:request|"
        r"signal|indicate|communicate)",
    ),
    (0.4, r"\btracking signals?\b|\bsignals?\b"),
)

_AUDIENCES: Cues = (
    (
        1.0,
        r"\bchild(?:ren|ren's|'s)?\b|\bkids?\b|\bminors?\b|\bteens?\b|\bteenagers?\b|"
        r"\bunder (?:the age of |age )?(?:13|16|18|thirteen|sixteen|eighteen)\b|\bcoppa\b|"
        r"\b(?:13|16|18|thirteen|sixteen|eighteen) years (?:of age|old)\b|"
        r"(?<!parent )\bparents?\b(?! compan)|\bparental\b|\bguardians?\b|\bstudents?\b",
    ),
    (
        1.0,
        r"\bcalifornia\b|\bshine the light\b|\bccpa\b|\bcpra\b|\bnevada\b|\bvirginia\b|"
        r"\bcolorado\b|\bconnecticut\b|\butah\b|\bvermont\b|\btexas\b|\boregon\b|"
        r"\bcivil code\b",
    ),
    (
        1.0,
        r"\beuropean (?:union|economic area)\b|\beea\b|\bgdpr\b|\bgeneral data protection\b|"
        r"\bprivacy shield\b|\bsafe harbou?r\b|\bstandard contractual clauses\b|"
        r"\bswitzerland\b|\bswiss\b|\bunited kingdom\b|\bcanad(?:a|ian)\b|\baustralia\b|"
        r"\bbrazil\b|\bjapan\b|\bkorea\b|\bindia\b|\bchina\b",
    ),
    (
        0.8,
        r"\bresidents?\b|\bif you (?:are|reside|live|are located) "
        r"(?:in|outside)\b|\binternational (?:users|visitors|transfers?)\b|\boutside (?:of )?"
        r"(?:the united states|the u\.?s\.?|your country|the eu|europe)|\bcross-border\b",
    ),
    (0.6, r"\b(?:eu|uk|u\.s\.|united states|europe)\b"),
)

_INTRO: Cues = (
    (
        1.0,
        r"\bthis (?:online )?(?:privacy )?(?:policy|statement|notice)\b[^.;]{0,60}?\b(?:describes|"
        r"explains|applies|covers|sets out|sets forth|outlines|governs|informs|tells|discloses|"
        r"is (?:intended|designed|meant)|summari[sz]es|details)",
    ),
    (
        1.0,
        r"\b(?:respects?|values?|(?:is|are) committed to|takes? (?:your )?privacy|"
        r"cares? (?:\w+ )?about|(?:is|are) (?:serious|concerned) about)\b[^.;]{0,40}\bprivacy\b",
    ),
    (1.0, r"\bwelcome to\b|\bthank you for (?:visiting|using|choosing)\b"),
    (0.8, r"\bplease read\b|\bread (?:this|our|the) (?:privacy )?(?:policy|statement|notice)"),
    (
        0.8,
        r"\b(?:referred to (?:herein )?as|hereinafter|collectively,?)|"
        r"\b(?:we|us|our)(?:\"|')?,? (?:or|and) (?:\"|')?(?:us|our)\b",
    ),
    (0.7, r"\bby (?:using|accessing|visiting)\b[^.;]{0,60}\b(?:agree|accept|consent)"),
    (0.5, r"\bterms of (?:use|service)\b|\bprivacy (?:policy|statement|notice)\b"),
    (
        0.8,
        r"\b(?:means|refers? to|is defined as|shall mean|as used in this)\b|\bthe terms? \"",
    ),
    (0.4, r"\bthis (?:policy|statement|notice)\b"),
)

_CONTACT: Cues = (
    (
        0.7,
        r"\bcontact (?:us|me|our|the (?:privacy|data protection|customer))|\b(?:e-?mail|write "
        r"(?:to)?|call|contact) us\b|\bget in touch\b|\breach out\b|\bsend us\b",
    ),
    (1.0, r"@[\w-]+\.[a-z]{2,}"),
    (1.0, r"\bp\.? ?o\.? box\b|\battn\b|\battention:"),
    (
        0.8,
        r"\btoll[- ]free\b|\bsuite \d+|\b(?:street|st\.|avenue|ave\.|road|rd\.|boulevard|"
        r"blvd\.|floor|fax|telephone|phone)\b",
    ),
    (0.8, r"\(\d{3}\) ?\d{3}-\d{4}"),
    (1.0, r"\bdata protection officer\b|\bdpo\b|\bprivacy (?:officer|team|office)\b"),
    (
        0.8,
        r"\b(?:questions|concerns|comments|complaints|inquiries|enquiries|feedback)\b[^.;]{0,60}"
        r"\b(?:contact|write|e-?mail|call|send|reach)\b",
    ),
    (0.4, r"\b(?:questions|concerns|comments|inquiries|enquiries)\b"),
)

_NOT_COVERED: Cues = (
    (
        0.7,
        r"\blinks? to (?:other|third[- ]party|external|outside)|\blinks? (?:you )?to (?:a |an )?"
        r"(?:different|other|third[- ]party) (?:web)?sites?\b",
    ),
    (0.7, r"\bnot responsible for (?:the )?(?:privacy|content|practices|information practices)"),
    (
        0.6,
        r"\b(?:governed|covered) by (?:the|their|its|those) (?:own )?(?:\w+ )?(?:privacy )?"
        r"(?:policies|policy|terms|statements?)",
    ),
    (
        0.5,
        r"\b(?:does|do) not (?:apply|cover|extend) to\b|\bno (?:longer )?control over\b|"
        r"\b(?:do|does|cannot|can't) not? ?control\b",
    ),
    (0.4, r"\b(?:governing|applicable) laws?\b|\bjurisdiction\b|\barbitration\b|\bdisclaim"),
)

#: a clause about data that no other category fits falls back to ``practice-not-covered`` when it
#: does something to the data the other categories do not name (combining, de-identifying ...)
_FALLBACK_CUE = _cache.compile(
    r"\b(?:combin(?:e|es|ed|ing)|aggregat(?:e|es|ed|ing)|de-?identif|anonymi[sz]|append|"
    r"supplement|match(?:es|ed|ing)?|link(?:s|ed)? (?:it|them|this|such|that|your)|enhanc)"
)

_BODY: dict[str, Cues] = {
    "first-party-collection": _FIRST_PARTY,
    "third-party-sharing": _THIRD_PARTY,
    "user-choice": _CHOICE,
    "user-access": _ACCESS,
    "data-retention": _RETENTION,
    "data-security": _SECURITY,
    "policy-change": _CHANGE,
    "do-not-track": _DNT,
    "specific-audiences": _AUDIENCES,
    "introductory": _INTRO,
    "contact-information": _CONTACT,
    "practice-not-covered": _NOT_COVERED,
}

# -- heading cues (the section path above a clause) ----------------------------------------------

_HEADINGS: dict[str, Cues] = {
    "first-party-collection": (
        (
            0.7,
            r"\b(?:information|data) (?:we|you) (?:collect|provide|give)|\bcollect|\bwhat "
            r"(?:information|data)|\bhow we use|\buse of (?:your )?(?:personal )?"
            r"(?:information|data)|\bcookies\b|\btracking technolog|\bautomatically",
        ),
    ),
    "third-party-sharing": (
        (
            0.7,
            r"\bshar(?:e|ing)\b|\bdisclos|\bthird[- ]part|\bwho (?:we|has access)|"
            r"\brecipients\b|\bservice providers\b|\badvertis|\banalytics\b",
        ),
    ),
    "user-choice": (
        (
            0.7,
            r"\bchoices?\b|\bopt(?:ing)?[- ]?out\b|\byour options\b|\bcontrols?\b|"
            r"\bpreferences\b|\bconsent\b|\bmarketing communications\b|\bunsubscrib",
        ),
    ),
    "user-access": (
        (
            0.7,
            r"\baccess(?:ing)?\b|\byour rights\b|\bcorrect|\bupdat(?:e|ing) your|\bdelet|"
            r"\bportability\b|\breview(?:ing)? your",
        ),
    ),
    "data-retention": ((1.0, r"\bretention\b|\bretain|\bhow long\b|\bstorage period\b"),),
    "data-security": ((1.0, r"\bsecurity\b|\bsecure\b|\bprotect|\bsafeguard"),),
    "policy-change": (
        (1.0, r"\bchanges?\b|\bupdates? to\b|\bamendments?\b|\brevisions?\b|\beffective date\b"),
    ),
    "do-not-track": ((1.0, r"\bdo[- ]not[- ]track\b|\bdnt\b"),),
    "specific-audiences": (
        (
            1.0,
            r"\bchild|\bkids?\b|\bminors?\b|\bcalifornia\b|\beurope|\beea\b|\bgdpr\b|"
            r"\binternational\b|\bresidents\b|\bprivacy shield\b|\bnevada\b|\bcanad|"
            r"\bunited kingdom\b|\bstate law|\bjurisdiction-specific",
        ),
    ),
    "introductory": (
        (
            0.8,
            r"\bintroduction\b|\boverview\b|\babout (?:this|us|our)\b|\bscope\b|"
            r"\bour commitment\b|\bpreamble\b|\bsummary\b|\bwho we are\b|\bdefinitions\b",
        ),
        (0.5, r"\bprivacy (?:policy|statement|notice)\b|\bterms\b"),
    ),
    "contact-information": (
        (1.0, r"\bcontact|\bquestions\b|\bhow to reach\b|\bget in touch\b|\bcomplaints\b"),
    ),
    "practice-not-covered": (
        (0.4, r"\blinks\b|\bgoverning law\b|\bmiscellaneous\b|\bother (?:terms|sites)\b"),
    ),
}


class _Rules:
    """All cues of all categories in one :class:`CueSet`, with their category and weight."""

    __slots__ = ("category", "cues", "weight")

    def __init__(self, table: dict[str, Cues]) -> None:
        patterns: list[str] = []
        category: list[int] = []
        weight: list[float] = []
        for c, cat in enumerate(CATEGORIES):
            for w, pattern in table[cat]:
                patterns.append(pattern)
                category.append(c)
                weight.append(w)
        self.cues = CueSet(patterns)
        self.category = tuple(category)
        self.weight = tuple(weight)

    def scores(self, text: str) -> list[float]:
        """Per category (``CATEGORIES`` order), the summed weights of the distinct cues found."""
        totals = [0.0] * len(CATEGORIES)
        seen: set[int] = set()
        for index, _ in self.cues.find(text):
            if index not in seen:
                seen.add(index)
                totals[self.category[index]] += self.weight[index]
        return totals


_BODY_RULES = _Rules(_BODY)
_HEADING_RULES = _Rules(_HEADINGS)
_FALLBACK = CATEGORIES.index("practice-not-covered")

#: a clause this short without a full stop is read as a heading of its own
_HEADING_LIKE = _cache.compile(r"[^.!?]{1,70}")


@lru_cache(maxsize=1024)
def _heading_scores(section: tuple[str, ...]) -> tuple[float, ...]:
    """What the headings above a clause say: the nearest counts fully, its ancestors half."""
    if not section:
        return (0.0,) * len(CATEGORIES)
    nearest = _HEADING_RULES.scores(fold(section[-1]))
    if len(section) > 1:
        ancestors = _HEADING_RULES.scores(fold(" / ".join(section[:-1])))
        nearest = [max(n, a / 2) for n, a in zip(nearest, ancestors, strict=True)]
    return tuple(nearest)


@lru_cache(maxsize=8192)
def _categorize(text: str, section: tuple[str, ...]) -> tuple[str, ...]:
    body = fold(text)
    headings = list(_heading_scores(section))
    if _HEADING_LIKE.fullmatch(body):
        own = _HEADING_RULES.scores(body)
        headings = [max(h, o) for h, o in zip(headings, own, strict=True)]
    scores = _BODY_RULES.scores(body)
    found = [cat for c, cat in enumerate(CATEGORIES) if scores[c] + headings[c] >= THRESHOLD]
    if not found and _FALLBACK_CUE.search(body):
        found.append(CATEGORIES[_FALLBACK])
    return tuple(found)


def categorize(text: str, section: Sequence[str] = ()) -> tuple[str, ...]:
    """The OPP-115 categories of one clause, in ``CATEGORIES`` order (possibly none).

    ``section`` is the heading path above the clause, outermost first; the nearest heading counts
    fully, the others half ("Cookies" under "Information we collect" still hints at collection).
    ``practice-not-covered`` comes from its own few cues (links to other sites, "we are not
    responsible for their practices") or, as a fallback, when nothing else fits a clause that
    combines, aggregates or de-identifies data.
    """
    return _categorize(text, tuple(section))
