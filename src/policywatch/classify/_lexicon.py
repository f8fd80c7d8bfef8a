"""What a clause can say about personal data: the vocabularies behind materiality.

Each table maps a *label* (what a reason names: "precise location", "data brokers") to a pattern
over folded text (lower case, ASCII quotes, see ``_text.fold``). Labels are what two versions of
a clause are compared by, so synonyms share a label ("advertisers", "ad networks" and "advertising
partners" are all ``advertising partners``): rewording a list must not look like a new recipient.

Patterns start with ``\\b`` and a literal so that :class:`~._match.CueSet` can anchor them (see
there). A specific label must not also be matched by a generic one *at the same word*: "advertising
partners" is not "partners" too (the generic patterns carry look-behinds for that).

All of this is written from how privacy policies are commonly phrased; none of it is taken from a
corpus.
"""

from __future__ import annotations

from . import _cache

__all__ = [
    "ACTIONS",
    "CONSENT",
    "DATA",
    "DURATION",
    "EXCEPTION",
    "EXTENDED",
    "FIRST_PERSON",
    "GENERIC_DATA",
    "HEDGE",
    "INDEFINITE",
    "LIMIT",
    "NEGATION",
    "NOT_A_NEGATION",
    "NOT_OURS",
    "OTHER_SUBJECT",
    "PEOPLE_LEAD",
    "PLACES",
    "PLACE_LEAD",
    "PURPOSES",
    "READER",
    "READER_RIGHTS",
    "RECIPIENTS",
    "RETENTION_CONTEXT",
    "RIGHTS",
    "SPLIT",
    "SPLIT_WORDS",
    "TRANSFER_CONTEXT",
    "UNIT_DAYS",
    "UNTIL_DELETED",
    "VAGUE",
    "WITHOUT_CONSENT",
    "WORD_NUMBERS",
]

#: the label of unspecific data ("your information"); named in a reason only when alone
GENERIC_DATA = "personal data"

DATA: tuple[tuple[str, str], ...] = (
    (
        "precise location",
        r"\b(?:precise|exact|gps|fine|real-time) (?:geo-?)?location\b|"
        r"\bgeo-?location\b|\bgps (?:data|coordinates|location)\b|\blatitude\b",
    ),
    (
        "location",
        r"(?<!precise )(?<!exact )(?<!gps )(?<!fine )(?<!real-time )\b(?:approximate "
        r"|general |coarse )?location(?: data| information)?\b(?! services)",
    ),
    ("email address", r"\be-?mail address(?:es)?\b"),
    ("phone number", r"\b(?:tele)?phone numbers?\b|\bmobile numbers?\b"),
    ("postal address", r"\b(?:postal|mailing|home|street|billing|shipping|physical) address"),
    ("name", r"\b(?:your |full |first |last |real |legal )names?\b|\bnames?(?: and|,)"),
    ("date of birth", r"\bdate of birth\b|\bbirth ?dates?\b|\bbirthdays?\b|\byour age\b"),
    (
        "contacts",
        r"\b(?:your |phone |device )?contacts(?! us)\b|\bcontact lists?\b|"
        r"\baddress books?\b|\bfriends? lists?\b",
    ),
    (
        "biometric data",
        r"\bbiometric|\bface ?prints?\b|\bfacial (?:recognition|geometry|scans?|"
        r"features|templates?)\b|\bfingerprints?\b|\bvoice ?prints?\b|\bretina|\biris scans?\b",
    ),
    (
        "health data",
        r"\bhealth\b|\bmedical\b|\bfitness (?:data|information)\b|\bheart rate\b|"
        r"\bdiagnos|\bprescriptions?\b|\bmental health\b",
    ),
    (
        "financial data",
        r"\bfinancial (?:data|information|details|accounts?)\b|\bbank (?:account|"
        r"details)|\b(?:credit|debit|payment) cards?\b|\bpayment (?:information|details|data)\b|"
        r"\bcard numbers?\b|\bincome\b|\bcredit (?:history|score|report)",
    ),
    (
        "government identifiers",
        r"\bsocial security numbers?\b|\bssn\b|\bpassports?\b|"
        r"\bdriver'?s licen[cs]e|\bgovernment[- ]issued (?:id|identification)|\bnational id",
    ),
    (
        "sensitive data",
        r"\bracial\b|\bethnic|\breligio|\bsexual (?:orientation|life)\b|"
        r"\bpolitical (?:opinions|views|affiliation)|\btrade union\b|\bgenetic\b|\bsensitive "
        r"(?:personal )?(?:data|information)\b|\bsexual\b",
    ),
    (
        "browsing history",
        r"\bbrows(?:ing|er) (?:history|activity|data)\b|\bweb history\b|"
        r"\bpages? (?:you )?(?:visit|view)(?:ed)?\b|\bclickstream|\bsites? you visit",
    ),
    ("search history", r"\bsearch (?:history|queries|terms)\b"),
    (
        "device identifiers",
        r"\bdevice (?:ids?|identifiers?)\b|\badvertising (?:ids?|identifiers?)"
        r"\b|\bidfa\b|\baaid\b|\bimei\b|\bmac address|\budid\b|\bunique (?:device )?identifiers?\b",
    ),
    ("IP address", r"\bip address(?:es)?\b|\binternet protocol address"),
    (
        "voice recordings",
        r"\bvoice (?:recordings?|data|commands?|inputs?|messages?)\b|"
        r"\baudio (?:recordings?|data)\b|\brecordings? of (?:your )?(?:voice|calls)|\bmicrophone\b",
    ),
    (
        "photos and videos",
        r"\b(?:your|the) (?:\w+ )?(?:photos|photographs|pictures|videos|images)\b|"
        r"\b(?:photos|photographs|pictures|videos|images) (?:you|of you|and videos)\b|"
        r"\bcamera(?: roll)?\b|\bphoto (?:library|gallery)\b|\buser-generated (?:photos|videos)",
    ),
    (
        "message content",
        r"\b(?:content|contents) of (?:your )?(?:messages|communications|emails|"
        r"chats)|\b(?:private|direct) messages\b|\bchat (?:logs|history|messages)\b|"
        r"\b(?:prompts|conversations) (?:you|with)",
    ),
    (
        "cookies and trackers",
        r"\bcookies?\b|\bweb beacons?\b|\bpixels?\b|\btracking "
        r"(?:technolog|pixels|scripts)|\blocal storage\b|\bsdks?\b|\bfingerprinting\b",
    ),
    (
        "usage data",
        r"\busage (?:data|information)\b|\blog (?:data|files|information)\b|"
        r"\bhow you use (?:our|the)\b",
    ),
    (
        "purchase history",
        r"\bpurchase (?:history|information|records|data)\b|\btransaction "
        r"(?:history|data|records|information)\b|\border history\b",
    ),
    ("demographic data", r"\bgender\b|\bdemographic"),
    ("social media profile", r"\bsocial (?:media|network(?:ing)?) (?:profiles?|accounts?|data)"),
    (
        GENERIC_DATA,
        r"\bpersonal (?:data|information)\b|\bpersonally identifiable information\b|"
        r"\bpii\b|\binformation (?:about|from|related to|relating to) you\b|\byour (?:data|"
        r"information|details)\b|\buser data\b|\bcustomer (?:data|information)\b",
    ),
)

RECIPIENTS: tuple[tuple[str, str], ...] = (
    (
        "advertising partners",
        r"\badvertis(?:ers|ing (?:partners|networks?|companies|providers|"
        r"platforms|technology (?:partners|companies|providers)))\b|"
        r"\bad (?:networks?|partners|tech (?:partners|companies|providers)|exchanges?|servers?)\b|"
        r"\bthird[- ]party advertis",
    ),
    (
        "affiliates",
        r"\baffiliat(?:es|ed compan(?:y|ies)|ed entities)\b|\bsubsidiar(?:y|ies)\b|"
        r"\bparent compan(?:y|ies)\b|\bgroup compan(?:y|ies)\b|\bcorporate family\b|"
        r"\bsister compan(?:y|ies)\b|\bfamily of companies\b",
    ),
    ("data brokers", r"\bdata (?:brokers?|resellers?|aggregators?)\b|\binformation brokers?\b"),
    (
        "law enforcement",
        r"\blaw enforcement\b|\bpolice\b|\bgovernment(?:al)? (?:agencies|"
        r"authorities|bodies|officials|entities|requests)\b|\bpublic authorities\b|\bcourts?\b|"
        r"\bregulators?\b|\btax authorities\b|\bintelligence (?:agencies|services)\b",
    ),
    ("payment processors", r"\bpayment (?:processors?|providers?|service providers?)\b"),
    (
        "analytics providers",
        r"\banalytics (?:providers?|companies|partners|services?|tools?)\b|"
        r"\bgoogle analytics\b",
    ),
    (
        "AI providers",
        r"\b(?:ai|artificial intelligence|machine learning|model) (?:providers?|"
        r"partners|vendors|companies)\b|\bopenai\b",
    ),
    (
        "service providers",
        r"(?<!payment )\bservice providers?\b|\bvendors?\b|\bcontractors?\b|"
        r"(?<!payment )\bprocessors?\b|\bsub-?processors?\b|\bsuppliers?\b|\bhosting providers?\b|"
        r"\bcloud (?:service )?providers?\b",
    ),
    (
        "social networks",
        r"\bsocial (?:media|network(?:ing)?) (?:platforms?|sites?|services?|"
        r"companies|networks?|providers?)\b|\bfacebook\b|\bmeta\b|\btwitter\b|\binstagram\b|"
        r"\blinkedin\b|\btiktok\b",
    ),
    ("insurers", r"\binsurers?\b|\binsurance (?:companies|providers|carriers)\b"),
    (
        "researchers",
        r"\bresearchers\b|\bacademic (?:institutions|partners|researchers)\b|"
        r"\buniversities\b",
    ),
    (
        "acquirers",
        r"\bmergers?\b|\bacquisitions?\b|\bacquirers?\b|\bbuyers?\b|\bpurchasers?\b|"
        r"\bsuccessors?\b|\bbankruptcy\b",
    ),
    (
        "business partners",
        r"(?<!advertising )(?<!ad )(?<!analytics )(?<!ai )\b(?:business |"
        r"marketing |commercial |strategic |trusted |joint marketing |co-branding |select(?:ed)? |"
        r"data |third[- ]party )?partners\b",
    ),
    (
        "other users",
        r"\bother (?:users|members|participants|players|customers)\b|\bpublicly\b|"
        r"\bthe public\b|\bpublic profile\b",
    ),
    (
        "third parties",
        r"\bthird[- ]part(?:y|ies)(?! advertis)(?! partners)\b|\bother "
        r"(?:companies|organi[sz]ations|businesses|entities)\b|\boutside (?:companies|parties|"
        r"organi[sz]ations)\b|\bunaffiliated\b|\bnon-affiliated\b",
    ),
)

PURPOSES: tuple[tuple[str, str], ...] = (
    (
        "personalised advertising",
        r"\b(?:targeted|interest-based|personali[sz]ed|behavio(?:u)?ral|"
        r"tailored|relevant|customi[sz]ed) (?:ads|advertising|advertisements|marketing)\b|"
        r"\bretargeting\b|\bremarketing\b|\bcross-context behavio(?:u)?ral advertising\b|"
        r"\bads? (?:personali[sz]ation|targeting)\b",
    ),
    (
        "advertising",
        r"(?<!targeted )(?<!interest-based )(?<!personalised )(?<!personalized )"
        r"(?<!behavioral )(?<!behavioural )(?<!tailored )(?<!relevant )(?<!customized )"
        r"(?<!customised )\b(?:ads|advertising|advertisements?)\b(?! partners)(?! networks?)"
        r"(?! companies)(?! providers?)(?! ids?)(?! identifiers?)(?! platforms?)(?! technology)",
    ),
    (
        "marketing",
        r"(?<!targeted )(?<!personalised )(?<!personalized )(?<!tailored )"
        r"\b(?:marketing|promotional|promotions|newsletters?|special offers)\b(?! partners)",
    ),
    (
        "profiling",
        r"\bprofiling\b|\bbuild(?:ing)? (?:a )?profiles?\b|\bcreate (?:a )?profiles?\b|"
        r"\binferences? about you\b|\bautomated decision",
    ),
    (
        "training AI models",
        r"\btrain(?:ing|s)? (?:\w+ ){0,3}(?:ai|artificial intelligence|machine "
        r"learning|models?|algorithms|large language)|"
        r"\b(?:artificial intelligence|machine learning|generative ai|large language models?)\b|"
        r"\bai (?:models?|systems?|features?|tools?)\b",
    ),
    ("research", r"\bresearch\b|\bscientific\b|\bstatistical purposes\b|\bstudies\b"),
    (
        "analytics",
        r"\banalytics\b(?! providers?)(?! companies)(?! partners)|\banaly[sz](?:e|ing) "
        r"(?:how|usage|trends|the use|traffic)|\bmeasur(?:e|ing) (?:the )?(?:effectiveness|"
        r"performance|traffic|usage)",
    ),
    (
        "improving our services",
        r"\bimprov(?:e|ing) (?:and develop )?(?:our|the) (?:services?|"
        r"products?|site|website|app|platform)|"
        r"\bdevelop(?:ing)? new (?:products|services|features)",
    ),
    (
        "personalisation",
        r"\bpersonali[sz](?:e|ing) (?:your|the|our|content)|\brecommendations?\b|"
        r"\bcustomi[sz](?:e|ing) (?:your|the|content)",
    ),
    (
        "security and fraud prevention",
        r"\bfraud\b|\bsecurity purposes\b|\bprevent(?:ing)? "
        r"(?:abuse|spam|misuse)|\bprotect against\b",
    ),
    (
        "legal compliance",
        r"\bcomply with (?:legal|the law|applicable|our legal|any|a )|"
        r"\blegal (?:obligations?|requirements?)\b|\brequired by law\b",
    ),
)

#: canonical action -> (gerund used in reasons, pattern)
ACTIONS: tuple[tuple[str, str, str], ...] = (
    (
        "collect",
        "collection",
        r"\b(?:collect|gather|obtain|receive|record|captur|acquir)\w*|"
        r"\bask(?:s|ed)? (?:you )?for\b|\blogged\b(?! in)|\b(?:reads?|scans?|detects?|infers?|"
        r"accesse[sd]|access(?= (?:your|the|their|this|such|certain)))\b",
    ),
    (
        "use",
        "use",
        r"\b(?:use|uses|used|using|process|processes|processed|processing|utili[sz]\w*|"
        r"analy[sz]\w*)\b(?! our)(?! the (?:site|service|app))",
    ),
    (
        "share",
        "sharing",
        r"\b(?:shar(?:e|es|ed|ing)|disclos(?:e|es|ed|ing|ure)|releas(?:e|es|ed)|"
        r"exchang(?:e|es|ed)|giv(?:e|es|en)|pass(?:es|ed)? (?:on|along)|make (?:\w+ )?available|"
        r"made available|provid(?:e|es|ed|ing) (?:(?!and |or |services? )\w+ ){0,3}to (?!you\b)"
        r"(?!us\b)|allow (?:\w+ ){0,3}access)\b",
    ),
    (
        "sell",
        "selling",
        r"\b(?:sell|sells|selling|sold|sale of|rent|rents|rented|renting|lease|"
        r"monetiz\w*|monetis\w*)\b|\btrad(?:e|es|ed|ing) (?:your|their|personal|user|customer|it\b|"
        r"them\b|data|information)",
    ),
    ("transfer", "transfer", r"\btransfer(?:s|red|ring)?\b|\bexport(?:s|ed)?\b"),
    (
        "retain",
        "retention",
        r"\b(?:retain|retains|retained|retaining|keep|keeps|kept|store|stores|"
        r"stored|storing|hold|holds|held|preserve[sd]?|archive[sd]?)\b",
    ),
    (
        "track",
        "tracking",
        r"\b(?:track|tracks|tracked|tracking|monitor|monitors|monitored|"
        r"monitoring)\b(?! signals?)",
    ),
    (
        "combine",
        "combining",
        r"\b(?:combin(?:e|es|ed|ing)|merg(?:e|es|ed)|link (?:it|them|this|"
        r"your)|match(?:es|ed)? (?:it|them|this|your))\b",
    ),
)

PLACES: tuple[tuple[str, str], ...] = (
    ("United States", r"\bunited states\b|\bu\.s\.(?:a\.)?(?= |$)|\busa\b"),
    (
        "outside the EEA",
        r"\boutside (?:of )?(?:the )?(?:eea|european economic area|eu|european "
        r"union|europe)\b",
    ),
    ("outside the UK", r"\boutside (?:of )?(?:the )?(?:uk|united kingdom)\b"),
    (
        "other countries",
        r"\boutside (?:of )?your (?:country|jurisdiction|state|province)|\bother "
        r"countries\b|\banother country\b|\babroad\b|\binternationally\b|\bcross-border\b|"
        r"\bthird countries\b|\bcountries other than\b|\bany country\b",
    ),
    ("China", r"\bchina\b|\bprc\b"),
    ("India", r"\bindia\b"),
    ("Russia", r"\brussia"),
    ("Canada", r"\bcanada\b"),
    ("United Kingdom", r"(?<!outside the )(?<!outside of the )\b(?:united kingdom|uk)\b"),
    ("Ireland", r"\bireland\b"),
    ("Singapore", r"\bsingapore\b"),
    ("Japan", r"\bjapan\b"),
    ("Brazil", r"\bbrazil\b"),
    ("Israel", r"\bisrael\b"),
    ("Australia", r"\baustralia\b"),
    ("Philippines", r"\bphilippines\b"),
    ("Germany", r"\bgermany\b"),
    ("Netherlands", r"\bnetherlands\b"),
    ("France", r"\bfrance\b"),
    ("Mexico", r"\bmexico\b"),
    ("South Korea", r"\b(?:south )?korea\b"),
    ("Hong Kong", r"\bhong kong\b"),
    ("Switzerland", r"\bswitzerland\b"),
    ("Vietnam", r"\bvietnam\b"),
)

#: label -> ("right" | "choice", pattern); specific labels before the generic ones they contain
RIGHTS: tuple[tuple[str, str, str], ...] = (
    (
        "opt out of sale",
        "choice",
        r"\bopt(?:-| )?out of (?:the )?(?:sale|selling|sharing)\b|"
        r"\bdo not sell (?:or share )?my\b",
    ),
    (
        "opt out of marketing",
        "choice",
        r"\b(?:opt(?:-| )?out|unsubscribe)\b[^.;]{0,40}?\b"
        r"(?:marketing|promotional|newsletters?|offers|commercial)",
    ),
    (
        "opt out of targeted ads",
        "choice",
        r"\bopt(?:-| )?out\b[^.;]{0,40}?(?<!non-)\b(?:targeted|"
        r"interest-based|personali[sz]ed|behavio|tailored) (?:ads|advertising|advertisements)",
    ),
    (
        "opt out",
        "choice",
        r"\bopt(?:-| )?out\b|\bopting out\b|\b(?:choose|ask|tell|request|direct|instruct)"
        r"(?: for)? us not to\b",
    ),
    ("unsubscribe", "choice", r"\bunsubscrib"),
    ("withdraw consent", "choice", r"\b(?:withdraw|revoke) (?:your |their |any )?consent\b"),
    (
        "control cookies",
        "choice",
        r"\b(?:disable|block|refuse|reject|delete|manage|decline|clear|"
        r"turn off) (?:\w+ ){0,2}cookies\b|\bcookie (?:settings|preferences|consent)\b|"
        r"\bbrowser settings\b",
    ),
    (
        "turn off location",
        "choice",
        r"\b(?:disable|turn off|switch off|deny) (?:\w+ ){0,2}"
        r"location\b",
    ),
    (
        "do not track signals",
        "choice",
        r"\b(?:honou?r|respect|respond to|recogni[sz]e|process)"
        r"\w* (?:\w+ ){0,3}(?:do[- ]not[- ]track|dnt|global privacy control|gpc|opt-out "
        r"preference)",
    ),
    ("object to processing", "right", r"\bobject (?:to|at any time)\b|\bright to object\b"),
    (
        "restrict processing",
        "right",
        r"\brestrict(?:ion of)? (?:the )?(?:our )?processing\b|"
        r"\blimit (?:the )?(?:use|processing) of your\b",
    ),
    (
        "access your data",
        "right",
        r"\baccess (?:to )?(?:your|the|any|all) (?:personal )?"
        r"(?:information|data)\b|\bright (?:of|to) access\b|\bright to know\b|\bcopy of (?:your|"
        r"the) (?:personal )?(?:information|data)\b",
    ),
    (
        "correct your data",
        "right",
        r"\b(?:correct|rectify|amend|update) (?:your|any|inaccurate|"
        r"incorrect|the) (?:\w+ ){0,2}(?:information|data|details)\b|\bright (?:of|to) "
        r"(?:rectification|correct)",
    ),
    (
        "delete your data",
        "right",
        r"(?<!until you )(?<!until we )\b(?:delete|erase|remove) "
        r"(?:your|the|all|any) (?:\w+ ){0,2}"
        r"(?:information|data|account|content)\b|\bright (?:to|of) (?:erasure|deletion|be "
        r"forgotten|delete)\b|\brequest (?:the )?deletion\b|\bdeletion of your\b",
    ),
    (
        "export your data",
        "right",
        r"\bportability\b|\bexport your\b|\bdownload (?:a copy of )?"
        r"your (?:\w+ )?(?:data|information)\b|\bmachine-readable\b",
    ),
    (
        "complain to a regulator",
        "right",
        r"\b(?:lodge|file|make) a complaint\b|\bcomplain to\b|"
        r"\bsupervisory authority\b",
    ),
    ("appeal", "right", r"\bright to appeal\b|\bappeal (?:our|a|the|that) decision"),
    ("non-discrimination", "right", r"\bnot (?:\w+ )?discriminate\b|\bnon-discrimination\b"),
)

#: phrases with a negative word that do not negate a practice; blanked before negation is read
#: patterns of phrases with a negative word that do not negate a practice; blanked before
#: negation is read (each a separate pattern so that ``CueSet`` can anchor it)
NOT_A_NEGATION: tuple[str, ...] = (
    r"\b(?:(?:but|and) )?not (?:be )?limited to\b",
    r"\bwithout limitation\b",
    r"\bnot (?:only|necessarily)\b",
    r"\bwhether or not\b",
    r"\bor (?:may )?not\b",
    r"\bif not\b",
    r"\bdo[- ]not[- ]track\b",
    r"\bdo not sell (?:or share )?my\b",
    r"\b(?:does|do|will|would|can|could) not (?:personally |directly |reasonably |otherwise )?"
    r"identify",
    r"\bnon-\w+",
    r"\bno (?:later|more|less|fewer|longer) than\b",
    r"\bno (?:charge|cost|fee)\b",
    r"\b(?:if|unless|when|where|should|in case|once|after|before) you (?:do not|don't|did not|"
    r"didn't|no longer|would not|wouldn't|would prefer not|prefer not|wish not|choose not|"
    r"decide not|have not|haven't)\b",
    r"\byou (?:do not|don't) (?:have|need) to\b",
    r"\bnot (?:required|obligated|obliged) to provide\b",
    r"\bno longer (?:needed|necessary|required|relevant)\b",
    r"\bnot (?:\w+ )?discriminate\b",
)
NEGATION: tuple[str, ...] = (
    r"\b(?:not|never|cannot|neither|nor|no longer|none|no)\b",
    r"n't\b",
    r"\bwithout(?= (?:your|their|prior|first|obtaining|asking)\b)",
)
#: rights that are only the reader's when the reader is named before them: "we delete your data
#: after 30 days" is retention and "service providers have access to your data" is sharing
READER_RIGHTS = frozenset(("access your data", "correct your data", "delete your data"))
READER = _cache.compile(
    r"\b(?:you|your|users?|request(?:s|ing)?|right|rights|ask|individuals|consumers|members|"
    r"customers|account holders?)\b"
)
#: negations whose subject is the reader or someone else: "you should never share your password"
#: is advice, "they may not give you the same rights" is about another company; neither is a
#: promise (they still deny a right: "you cannot opt out")
NOT_OURS = _cache.compile(
    r"\b(?:you|they|users?|parents?|visitors?|customers?|members?|partners|providers|others)"
    r"(?: (?:should|must|may|might|shall|will|would|can|could|do|does|did|are|is|have|also|still|"
    r"agree to|agree that you will))*(?: not| never|n't)\b|^ *(?:please )?(?:do not|don't|never)\b|"
    r"\b(?:no|not|cannot|can't|can not) (?:\w+ ){0,2}(?:guarantee|warrant|ensure)\w*\b[^.;]*|"
    r"\b(?:preference|request|choice|option|signal|ask|asks|choose|want|wish|prefer)(?: us)? "
    r"not to\b"
)
#: an action whose subject is the reader or another company, seen just before the verb
OTHER_SUBJECT = _cache.compile(
    r"(?<!about )(?<!from )(?<!to )(?<!with )(?<!for )(?<!of )(?<!by )(?<!that )\b(?:you|they)"
    r"(?: (?:can|may|might|could|will|would|should|must|also|easily|directly|choose to|decide to|"
    r"want to|wish to|agree to|are able to|have|had|then))* $"
)
#: an "only" limit binds the site when the site speaks
FIRST_PERSON = _cache.compile(r"\b(?:we|us|our)\b")
#: a statement ends at these; a negation never reaches past them
SPLIT = _cache.compile(
    # every alternative starts with its punctuation, so the scan skips ahead to candidates (the
    # look-behinds after the full stop include it: "i.e." is not an end)
    r";|\.(?<!\bi\.e\.)(?<!\be\.g\.)(?<!\betc\.)(?<!\binc\.)(?<!\bltd\.)(?<!\bco\.)(?<!\bu\.s\.)"
    r"(?<!\bvs\.)(?=\s|$|<)|\?|!|\||<br ?/?>|,\s*(?:and |but |so )?(?=(?:we|they|who|which|you|"
    r"it|these|those)\b)"
)
#: words that also end a statement (kept apart from ``SPLIT`` so that both search fast)
SPLIT_WORDS: tuple[str, ...] = (
    r"\b(?:but|however|whereas|although|though|when|whenever|where|if|because)\b",
    r"\band\s+(?=(?:we\s+)?(?:do|does|will|would|may|might|can|never|also|shall)\b)",
)
#: what follows these inside a statement is the opposite of its main part ("do not share ...
#: except with service providers")
EXCEPTION = _cache.compile(
    r"\b(?:except|excepting|other than|apart from|besides|excluding|save for|with the exception "
    r"of|unless)\b"
)
CONSENT = _cache.compile(
    r"\b(?:with|upon|after (?:obtaining|receiving|getting)|subject to|based on|(?:we|will) "
    r"(?:first )?(?:obtain|ask for|seek|request)|having) (?:your|the user's|their) (?:prior |"
    r"express |explicit |affirmative |opt-in |separate |written )*(?:consent|permission|"
    r"authori[sz]ation|approval)\b|\b(?:with|upon|subject to|after obtaining) (?:prior |express |"
    r"explicit |affirmative |opt-in |separate |written )*consent\b|\bif you (?:opt in|opt-in|"
    r"consent|agree|allow|authori[sz]e|choose to|give us permission)\b|\bunless you (?:consent|"
    r"agree|opt in)\b|\bonce you (?:consent|agree|opt in)\b"
)
WITHOUT_CONSENT = _cache.compile(
    r"\bwithout (?:your |their )?(?:prior |express |explicit )*"
    r"(?:consent|permission|authori[sz]ation)\b"
)
LIMIT = _cache.compile(r"\b(?:only|solely|exclusively|strictly)\b")
HEDGE = _cache.compile(
    r"\b(?:currently|at this time|at present|presently|generally|typically|"
    r"normally|usually|as of the date)\b"
)

#: a place is a transfer abroad when a transfer verb comes shortly before it ...
TRANSFER_CONTEXT = _cache.compile(
    r"\btransfer|\bstor(?:e|ed|es|ing|age)\b|\bprocess(?:ed|es|ing)?\b|\bhost(?:ed|s|ing)?\b|"
    r"\bservers?\b|\bdata cent(?:er|re)s?\b|\bmov(?:e|ed)\b|\bsen[dt]\b|\baccess(?:ed)?\b|"
    r"\bexport|\bshar(?:e|ed)\b|\bdisclos"
)
#: ... and the place is where data goes ("to", "in", "outside") ...
PLACE_LEAD = _cache.compile(
    r"\b(?:in|to|into|within|across|from|outside(?: of)?|including|such as|like|namely)(?: the)? $|"
    r"(?:\band|\bor|,) (?:the )?$"
)
#: ... rather than who lives there ("users in Brazil")
PEOPLE_LEAD = _cache.compile(
    r"\b(?:users|residents|people|individuals|customers|consumers|those|you|citizens|visitors|"
    r"members|(?:who|that) (?:are|live|reside))(?: (?:located|living|based|residing|who live|who "
    r"are))? (?:in|from|within|outside(?: of)?)(?: the)? $"
)
RETENTION_CONTEXT = _cache.compile(
    r"\b(?:retain|retains|retained|retaining|retention|keep|keeps|kept|store|stores|stored|"
    r"storing|hold|holds|held|preserve[sd]?|maintain(?:s|ed)?|archive[sd]?|delete[sd]?|deleting|"
    r"erase[sd]?|purge[sd]?|destroy(?:s|ed)?|anonymi[sz]e[sd]?|de-identif\w*)\b"
)
WORD_NUMBERS: dict[str, int] = {
    "one": 1, "a": 1, "an": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "eighteen": 18, "twenty": 20,
    "twenty-four": 24, "thirty": 30, "thirty-six": 36, "forty-five": 45, "sixty": 60,
    "ninety": 90, "hundred": 100,
}  # fmt: skip
UNIT_DAYS: dict[str, float] = {"hour": 1 / 24, "day": 1, "week": 7, "month": 30, "year": 365}
DURATION = _cache.compile(
    r"\b(?:for|after|within|up to|than|of|least|most|beyond|over|past|last|following|about|"
    r"approximately|maximum|minimum|additional|another|further)"
    r" (?:a |the |an )?(?:period of |maximum of |minimum of |up to |at least |at most )?"
    r"(?P<n>\d+(?:\.\d+)?|" + "|".join(sorted(WORD_NUMBERS, key=len, reverse=True)) + r")"
    r"(?: \(\d+\))?[- ](?:full |calendar |business )?(?P<unit>hour|day|week|month|year)s?\b"
)
INDEFINITE = _cache.compile(
    r"\bindefinitely\b|\bpermanently\b|\bforever\b|\bin perpetuity\b|\bno (?:fixed |set |specific "
    r")?(?:time )?limit\b|\bfor as long as we (?:wish|want|choose|see fit|like)\b"
)
VAGUE = _cache.compile(
    r"\bas long as (?:(?:is |it is |we deem |reasonably |we consider )?(?:necessary|needed|"
    r"required|appropriate)|we (?:need|have a (?:legitimate|business))|(?:the law|law) "
    r"(?:requires|permits|allows)|permitted|is (?:reasonably )?necessary)|\bfor the (?:period|time)"
    r" (?:necessary|needed|required)\b|\bno longer (?:needed|necessary|required)\b"
)
#: an open-ended "longer" period, reported as such
EXTENDED = _cache.compile(r"\b(?:longer|extended|lengthy|prolonged) (?:time )?(?:period|time)s?\b")
UNTIL_DELETED = _cache.compile(
    r"\buntil you (?:delete|close|remove|deactivate|cancel|ask|request|withdraw|terminate|"
    r"unsubscribe)|\bas long as (?:your account|you (?:have|keep|maintain|use))|\bwhile your "
    r"account|\bfor the (?:life|lifetime|duration) of your account\b|\buntil (?:your|the) "
    r"account is (?:closed|deleted)"
)
