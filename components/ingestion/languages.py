"""One BCP-47 tag per language, whatever code the source used.

Sources name languages in many ways: ISO 639-3 codes with regions (NTREX-128: `eng`, `zho-CN`,
`srp-Latn`), Flores-200 codes (SIB-200: `eng_Latn`, `zho_Hans`), two-letter ISO 639-1 codes,
ready BCP-47 tags (`pt-BR`), ISO 639-2/B codes (`ger`) and chatterbot-corpus folder names
(`english`, `traditionalchinese`). Everything downstream (vocabulary smoothing, per-language
sampling, evaluation slices) keys on the tag, so every spelling of one language must meet in
one tag:

- primary subtag: the ISO 639-1 code when the language has one, else the ISO 639-3 code;
  individual languages that are the usual member of a macrolanguage are folded into it
  (`arb` -> `ar`, `swh` -> `sw`, `cmn` -> `zh`, `pes` -> `fa`, ...), the others keep their
  own code (`ary`, `prs`, `yue`) because they are distinct varieties in the data sets;
- script subtag: dropped when it is the language's usual script (`eng_Latn` -> `en`), kept
  otherwise (`arb_Latn` -> `ar-Latn`), always kept for Chinese and Serbian, where two scripts
  are in common use;
- Chinese regions name a script: `zho-CN`/`zh-SG` -> `zh-Hans`, `zho-TW`/`zh-HK` -> `zh-Hant`
  (the region itself is dropped, so NTREX and SIB-200 meet in the same tag);
- other regions are kept (`eng-GB` -> `en-GB`): they are separate references in NTREX.

Unknown codes give None; callers reject the record with reason `unknown_language`.
"""

from __future__ import annotations

import re

# (ISO 639-1, ISO 639-3, ISO 639-2/B when it differs from 639-3 or "", English names).
# The names are matched case- and punctuation-insensitively, which covers chatterbot-corpus.
_ISO_639 = """
aa aar - afar
ab abk - abkhazian|abkhaz
ae ave - avestan
af afr - afrikaans
ak aka - akan|twi
am amh - amharic
an arg - aragonese
ar ara - arabic
as asm - assamese
av ava - avaric
ay aym - aymara
az aze - azerbaijani
ba bak - bashkir
be bel - belarusian
bg bul - bulgarian
bi bis - bislama
bm bam - bambara
bn ben - bengali|bangla
bo bod tib tibetan
br bre - breton
bs bos - bosnian
ca cat - catalan
ce che - chechen
ch cha - chamorro
co cos - corsican
cr cre - cree
cs ces cze czech
cu chu - churchslavic
cv chv - chuvash
cy cym wel welsh
da dan - danish
de deu ger german|deutsch
dv div - divehi|dhivehi
dz dzo - dzongkha
ee ewe - ewe
el ell gre greek
en eng - english
eo epo - esperanto
es spa - spanish|espanol
et est - estonian
eu eus baq basque
fa fas per persian|farsi
ff ful - fulah|fula
fi fin - finnish
fj fij - fijian
fo fao - faroese
fr fra fre french|francais
fy fry - westernfrisian|frisian
ga gle - irish
gd gla - scottishgaelic|gaelic
gl glg - galician
gn grn - guarani
gu guj - gujarati
gv glv - manx
ha hau - hausa
he heb - hebrew
hi hin - hindi
ho hmo - hirimotu
hr hrv - croatian
ht hat - haitian|haitiancreole
hu hun - hungarian
hy hye arm armenian
hz her - herero
ia ina - interlingua
id ind - indonesian
ie ile - interlingue
ig ibo - igbo
ii iii - sichuanyi
ik ipk - inupiaq
io ido - ido
is isl ice icelandic
it ita - italian
iu iku - inuktitut
ja jpn - japanese
jv jav - javanese
ka kat geo georgian
kg kon - kongo
ki kik - kikuyu
kj kua - kuanyama
kk kaz - kazakh
kl kal - kalaallisut|greenlandic
km khm - khmer
kn kan - kannada
ko kor - korean
kr kau - kanuri
ks kas - kashmiri
ku kur - kurdish
kv kom - komi
kw cor - cornish
ky kir - kyrgyz|kirghiz
la lat - latin
lb ltz - luxembourgish
lg lug - ganda|luganda
li lim - limburgish
ln lin - lingala
lo lao - lao
lt lit - lithuanian
lu lub - lubakatanga
lv lav - latvian
mg mlg - malagasy
mh mah - marshallese
mi mri mao maori
mk mkd mac macedonian
ml mal - malayalam
mn mon - mongolian
mr mar - marathi
ms msa may malay
mt mlt - maltese
my mya bur burmese|myanmar
na nau - nauru
nb nob - norwegianbokmal|bokmal
nd nde - northndebele
ne nep - nepali
ng ndo - ndonga
nl nld dut dutch
nn nno - norwegiannynorsk|nynorsk
no nor - norwegian
nr nbl - southndebele
nv nav - navajo
ny nya - chichewa|nyanja
oc oci - occitan
oj oji - ojibwa
om orm - oromo
or ori - oriya|odia
os oss - ossetian
pa pan - punjabi|panjabi
pi pli - pali
pl pol - polish
ps pus - pashto|pushto
pt por - portuguese
qu que - quechua
rm roh - romansh
rn run - rundi|kirundi
ro ron rum romanian
ru rus - russian
rw kin - kinyarwanda
sa san - sanskrit
sc srd - sardinian
sd snd - sindhi
se sme - northernsami
sg sag - sango
si sin - sinhala|sinhalese
sk slk slo slovak
sl slv - slovenian|slovene
sm smo - samoan
sn sna - shona
so som - somali
sq sqi alb albanian
sr srp - serbian
ss ssw - swati|swazi
st sot - southernsotho|sesotho
su sun - sundanese
sv swe - swedish
sw swa - swahili|kiswahili
ta tam - tamil
te tel - telugu
tg tgk - tajik
th tha - thai
ti tir - tigrinya
tk tuk - turkmen
tl tgl - tagalog
tn tsn - tswana|setswana
to ton - tonga|tongan
tr tur - turkish
ts tso - tsonga
tt tat - tatar
tw twi - -
ty tah - tahitian
ug uig - uyghur|uighur
uk ukr - ukrainian
ur urd - urdu
uz uzb - uzbek
ve ven - venda
vi vie - vietnamese
vo vol - volapuk
wa wln - walloon
wo wol - wolof
xh xho - xhosa
yi yid - yiddish
yo yor - yoruba
za zha - zhuang
zh zho chi chinese
zu zul - zulu
"""

# Individual languages folded into their macrolanguage: the member that the macrolanguage's
# code usually means (Modern Standard Arabic, Mandarin, Iranian Persian, ...). Flores-200 and
# NTREX use these individual codes for what every other source calls ar, zh, fa, ...
_MACRO_MEMBERS = {
    "arb": "ar", "swh": "sw", "cmn": "zh", "pes": "fa", "zsm": "ms", "ekk": "et", "lvs": "lv",
    "khk": "mn", "npi": "ne", "ory": "or", "gaz": "om", "plt": "mg", "uzn": "uz", "azj": "az",
    "azb": "az", "ydd": "yi", "quy": "qu", "als": "sq", "pbt": "ps", "kmr": "ku", "knc": "kr",
    "ayr": "ay", "fuv": "ff", "nor": "no", "est": "et", "lav": "lv", "msa": "ms", "fas": "fa",
}

# ISO 639-3 codes with no 639-1 code that the data sets use (NTREX-128, Flores-200/SIB-200)
# or that are common in corpora. They stay three-letter tags; anything else is unknown, so a
# typo does not invent a language.
_THREE_LETTER_ONLY = frozenset("""
ace acm acq aeb ajp apc ars ary arz ast awa ban bem bho bjn bug ceb cjk ckb crh dik dyu fil
fon fuc fur grc gsw hak hmn hne hsb ilo kab kac kam kbp kea kmb lij lmo ltg lua luo lus mag
mai mey min mni mos nan nap nso nus pag pap prs sah sat scn shi shn szl taq tpi tum tzm umb
vec war wuu yue zza haw hil jam kri nds pcm yua
""".split())

# Usual script of languages not written in Latin script; any other known language's usual
# script is Latin. A script subtag equal to the usual one carries no information and is
# dropped so that `eng_Latn` and `eng` meet.
_USUAL_SCRIPTS = {
    "ar": {"Arab"}, "fa": {"Arab"}, "ur": {"Arab"}, "ps": {"Arab"}, "ug": {"Arab"},
    "sd": {"Arab"}, "ckb": {"Arab"}, "ks": {"Arab"}, "prs": {"Arab"}, "acm": {"Arab"},
    "acq": {"Arab"}, "aeb": {"Arab"}, "ajp": {"Arab"}, "apc": {"Arab"}, "ars": {"Arab"},
    "ary": {"Arab"}, "arz": {"Arab"}, "mey": {"Arab"},
    "ru": {"Cyrl"}, "uk": {"Cyrl"}, "be": {"Cyrl"}, "bg": {"Cyrl"}, "mk": {"Cyrl"},
    "kk": {"Cyrl"}, "ky": {"Cyrl"}, "tg": {"Cyrl"}, "tt": {"Cyrl"}, "ba": {"Cyrl"},
    "mn": {"Cyrl"}, "cv": {"Cyrl"}, "os": {"Cyrl"}, "ce": {"Cyrl"}, "sah": {"Cyrl"},
    "cu": {"Cyrs", "Cyrl"}, "kv": {"Cyrl"}, "av": {"Cyrl"},
    "el": {"Grek"}, "grc": {"Grek"}, "he": {"Hebr"}, "yi": {"Hebr"},
    "hi": {"Deva"}, "mr": {"Deva"}, "ne": {"Deva"}, "sa": {"Deva"}, "mai": {"Deva"},
    "bho": {"Deva"}, "awa": {"Deva"}, "hne": {"Deva"}, "mag": {"Deva"},
    "bn": {"Beng"}, "as": {"Beng"}, "mni": {"Beng"}, "pa": {"Guru"}, "gu": {"Gujr"},
    "or": {"Orya"}, "ta": {"Taml"}, "te": {"Telu"}, "kn": {"Knda"}, "ml": {"Mlym"},
    "si": {"Sinh"}, "th": {"Thai"}, "lo": {"Laoo"}, "km": {"Khmr"}, "my": {"Mymr"},
    "shn": {"Mymr"}, "bo": {"Tibt"}, "dz": {"Tibt"}, "ka": {"Geor"}, "hy": {"Armn"},
    "am": {"Ethi"}, "ti": {"Ethi"}, "dv": {"Thaa"}, "sat": {"Olck"}, "ii": {"Yiii"},
    "iu": {"Cans"}, "tzm": {"Tfng"},
    "ja": {"Jpan", "Hira", "Kana", "Hrkt"}, "ko": {"Kore", "Hang"},
    "yue": {"Hant"}, "hak": {"Hant"}, "nan": {"Hant"}, "wuu": {"Hans"},
}

# Languages whose script is always part of the tag: both scripts are in everyday use, so a
# bare `zh` or `sr` would hide which one the text is in.
_SCRIPT_ALWAYS_KEPT = frozenset({"zh", "sr"})

# Chinese regions imply a script (NTREX: zho-CN, zho-TW).
_CHINESE_REGION_SCRIPT = {"CN": "Hans", "SG": "Hans", "MY": "Hans", "TW": "Hant", "HK": "Hant", "MO": "Hant"}

# Names that are not plain language names: chatterbot-corpus folders and common spellings.
# chatterbot-corpus's `chinese` folder is in Simplified characters and its Traditional one is
# `traditionalchinese` (`tchinese` in older releases), so those names carry the script.
_EXTRA_NAMES = {
    "chinese": "zh-Hans", "simplifiedchinese": "zh-Hans", "chinesesimplified": "zh-Hans",
    "traditionalchinese": "zh-Hant", "tchinese": "zh-Hant", "chinesetraditional": "zh-Hant",
    "mandarin": "zh", "cantonese": "yue", "hinglish": "hi-Latn", "filipino": "fil",
    "brazilianportuguese": "pt-BR", "portuguesebrazil": "pt-BR", "englishbritish": "en-GB",
    "englishus": "en-US", "sorani": "ckb", "centralkurdish": "ckb", "kurmanji": "ku",
    "northernkurdish": "ku", "swissgerman": "gsw", "dari": "prs", "hmong": "hmn",
    "pulaar": "fuc", "hassaniyya": "mey", "shilha": "shi", "bemba": "bem", "northernsotho": "nso",
    "sepedi": "nso",
}

# Deprecated ISO 639-1 codes still seen in old data.
_DEPRECATED_TWO_LETTER = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro", "sh": "sr-Latn"}


def _build_tables() -> tuple[frozenset[str], dict[str, str], dict[str, str]]:
    two_letter: set[str] = set()
    three_to_two: dict[str, str] = {}
    names: dict[str, str] = {}
    for row in _ISO_639.strip().splitlines():
        code1, code3, code2b, name_field = row.split(" ", 3)
        two_letter.add(code1)
        three_to_two[code3] = code1
        if code2b != "-":
            three_to_two[code2b] = code1
        for name in name_field.split("|"):
            if name != "-":
                names[name] = code1
    three_to_two.update(_MACRO_MEMBERS)
    names.update(_EXTRA_NAMES)
    return frozenset(two_letter), three_to_two, names


_TWO_LETTER, _THREE_TO_TWO, _NAMES = _build_tables()

_SUBTAG_SEPARATORS = re.compile(r"[-_]")
_NAME_PUNCTUATION = re.compile(r"[^a-z]")


def _primary(subtag: str) -> str | None:
    """The canonical primary language subtag for a 2- or 3-letter code, or None."""
    subtag = subtag.lower()
    if len(subtag) == 2:
        if subtag in _TWO_LETTER:
            return subtag
        return None
    if len(subtag) == 3:
        if subtag in _THREE_TO_TWO:
            return _THREE_TO_TWO[subtag]
        if subtag in _THREE_LETTER_ONLY:
            return subtag
    return None


def normalize_language(code: str) -> str | None:
    """Maps a language code or name to the project's BCP-47 tag.

    Args:
      code: a code as a source spells it: `eng`, `eng_Latn`, `zho-CN`, `zho_Hant`, `en`,
        `pt-BR`, `srp-Latn`, `english`, `traditionalchinese`, ...

    Returns:
      The normalised tag (`en`, `zh-Hans`, `zh-Hant`, `pt-BR`, `sr-Latn`, ...), or None when
      the code is not a language this table knows (the caller rejects the record with reason
      `unknown_language`).
    """
    if not isinstance(code, str):
        return None
    code = code.strip()
    if not code:
        return None
    name_key = _NAME_PUNCTUATION.sub("", code.lower())
    if name_key in _NAMES and len(name_key) > 3:
        return _NAMES[name_key]

    subtags = _SUBTAG_SEPARATORS.split(code)
    first = subtags[0].lower()
    if first in _DEPRECATED_TWO_LETTER and len(subtags) == 1:
        return _DEPRECATED_TWO_LETTER[first]
    language = _primary(first)
    if language is None:
        return None

    script = None
    region = None
    variants: list[str] = []
    for subtag in subtags[1:]:
        if len(subtag) == 4 and subtag.isalpha() and script is None and region is None and not variants:
            script = subtag.title()
        elif (len(subtag) == 2 and subtag.isalpha()) or (len(subtag) == 3 and subtag.isdigit()):
            if region is not None or variants:
                return None
            region = subtag.upper()
        elif 5 <= len(subtag) <= 8 and subtag.isalnum() or (len(subtag) == 4 and subtag[0].isdigit()):
            variants.append(subtag.lower())
        else:
            return None

    if language == "zh" and region in _CHINESE_REGION_SCRIPT:
        script = script or _CHINESE_REGION_SCRIPT[region]
        region = None
    if language == "zh" and script is not None:
        # zh-Hant-TW and zh-Hant-HK meet in zh-Hant: the script is what matters to the model.
        region = None
    if script is not None and language not in _SCRIPT_ALWAYS_KEPT:
        if script in _USUAL_SCRIPTS.get(language, {"Latn"}):
            script = None

    return "-".join([language] + ([script] if script else []) + ([region] if region else []) + variants)
