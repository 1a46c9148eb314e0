"""How the "varied" benchmark corpus writes: Spanish and English word forms (plurals, agreement,
conjugation in five tenses), the long tail of device models, platforms and error codes, and the
vocabulary of one language (`kb_vocabulary.yaml`), every list drawn by a Zipf law."""

from __future__ import annotations

import bisect
import random
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

import yaml

WORDS = yaml.safe_load((Path(__file__).with_name("kb_vocabulary.yaml")).read_text(encoding="utf-8"))
ZIPF_EXPONENT = 1.0
BOXES = 400  # set-top boxes among the device models
PEOPLE = 800
VOWELS = "aeiouáéíóú"


def entries(text: str) -> list[str]:
    """The entries of a whitespace-separated list ("_" joins the words of one entry)."""
    return [entry.replace("_", " ") for entry in text.split()]


class Tense(StrEnum):
    PRESENT = "present"
    PAST = "past"  # la app se cerró / the app crashed
    WAS = "was"  # se cerraba / was crashing
    WILL = "will"
    SUBJUNCTIVE = "subjunctive"  # para que funcione / so that it works


class Noun(NamedTuple):
    singular: str
    plural: str
    feminine: bool


class Verb(NamedTuple):
    forms: dict[str, str]  # infinitive, first, participle, gerund, and per tense singular/plural
    pronominal: bool = False


class Spanish:
    settings = "Ajustes"
    feminine_endings = ("a", "ión", "dad", "tad", "tud", "umbre")
    plural_stops = ("de", "del", "por", "para", "con")

    def nouns(self, text: str) -> list[Noun]:
        result = []
        for entry in text.split():
            spec, _, gender = entry.partition("/")
            words = spec.split("_")
            feminine = gender == "f" if gender else words[0].lower().endswith(self.feminine_endings)
            stop = next((i for i, word in enumerate(words) if word in self.plural_stops), len(words))
            plural = [self.plural(word) for word in words[:stop]] + words[stop:]
            result.append(Noun(" ".join(words), " ".join(plural), feminine))
        return result

    @staticmethod
    def plural(word: str) -> str:
        if word in WORDS["plurals_es"]:
            return WORDS["plurals_es"][word]
        if any(c.isupper() for c in word) or word.endswith(("s", "x")):
            return word
        if word[-1] in VOWELS:
            return word + "s"
        if word.endswith("z"):
            return word[:-1] + "ces"
        if len(word) > 2 and word[-2] in "áéíóú" and word[-1] in "ns":
            word = word[:-2] + "aeiou"["áéíóú".index(word[-2])] + word[-1]  # canción → canciones
        return word + "es"

    @staticmethod
    def agree(adjective: str, feminine: bool, plural: bool) -> str:
        if feminine and adjective.endswith("o"):
            adjective = adjective[:-1] + "a"
        if plural:
            adjective += "s" if adjective[-1] in VOWELS else "es"
        return adjective

    def phrase(self, noun: Noun, plural: bool, adjective: str | None = None) -> str:
        article = ("las" if plural else "la") if noun.feminine else ("los" if plural else "el")
        text = f"{article} {noun.plural if plural else noun.singular}"
        return f"{text} {self.agree(adjective, noun.feminine, plural)}" if adjective else text

    @staticmethod
    def _conjugate(infinitive: str, stressed: str) -> dict[str, str]:
        ending, stem = infinitive[-2:], infinitive[:-2]
        stressed = stressed or stem
        if infinitive in WORDS["irregular_verbs"]["es"]:
            third, third_plural, first, participle = WORDS["irregular_verbs"]["es"][infinitive]
        else:
            third = stressed + ("a" if ending == "ar" else "e")
            third_plural, first = third + "n", stressed + "o"
            if ending != "ar" and stem.endswith("c") and stem[-2] in VOWELS:
                first = stressed[:-1] + "zco"  # aparezco, reduzco
            elif ending != "ar" and stressed.endswith("g"):
                first = stressed[:-1] + "jo"  # elijo, corrijo
            participle = stem + ("ado" if ending == "ar" else "ido")
        # -ir verbs that turn e into i (medir, repetir) keep the i in the gerund and the past.
        changed = [(a, b) for a, b in zip(stem, stressed, strict=False) if a != b]
        past_stem = stressed if ending == "ir" and len(stem) == len(stressed) and changed == [("e", "i")] else stem
        if ending == "ar":
            gerund, past, past_plural, was = stem + "ando", stem + "ó", stem + "aron", stem + "aba"
        elif stem.endswith("duc"):  # reducir → redujo
            gerund, past, past_plural, was = stem + "iendo", stem[:-1] + "jo", stem[:-1] + "jeron", stem + "ía"
        elif stem[-1] in VOWELS:  # reconstruir → reconstruyendo
            gerund, past, past_plural, was = stem + "yendo", stem + "yó", stem + "yeron", stem + "ía"
        else:
            gerund, past, past_plural = past_stem + "iendo", past_stem + "ió", past_stem + "ieron"
            was = stem + "ía"
        subjunctive = first[:-1]
        if ending == "ar":
            for plain, spelled in (("c", "qu"), ("g", "gu"), ("z", "c")):
                if subjunctive.endswith(plain):
                    subjunctive = subjunctive[: -len(plain)] + spelled
            subjunctive += "e"
        else:
            subjunctive += "a"
        singular = {Tense.PRESENT: third, Tense.PAST: past, Tense.WAS: was, Tense.WILL: infinitive + "á"}
        singular[Tense.SUBJUNCTIVE] = subjunctive
        plural = {Tense.PRESENT: third_plural, Tense.PAST: past_plural, Tense.WAS: was + "n"}
        plural |= {Tense.WILL: infinitive + "án", Tense.SUBJUNCTIVE: subjunctive + "n"}
        forms = {"infinitive": infinitive, "first": first, "participle": participle, "gerund": gerund}
        return (
            forms
            | {f"{tense}": form for tense, form in singular.items()}
            | {f"{t}_plural": f for t, f in plural.items()}
        )

    def verbs(self, text: str) -> list[Verb]:
        result = []
        for entry in text.split():
            head, *rest = entry.split("_")
            tail = "".join(f" {word}" for word in rest)
            pronominal = head.startswith("~")
            infinitive, _, stressed = head.lstrip("~").partition(">")
            forms = self._conjugate(infinitive, stressed)
            if pronominal:
                forms["infinitive"] += "se"
            result.append(Verb({key: form + tail for key, form in forms.items()}, pronominal))
        return result

    @staticmethod
    def happens(verb: Verb, plural: bool, tense: Tense = Tense.PRESENT, negative: bool = False) -> str:
        form = verb.forms[f"{tense}_plural" if plural else f"{tense}"]
        return ("no " if negative else "") + ("se " if verb.pronominal else "") + form

    @staticmethod
    def has_happened(verb: Verb, plural: bool) -> str:
        return ("se " if verb.pronominal else "") + ("han " if plural else "ha ") + verb.forms["participle"]

    @staticmethod
    def not_done(action: Verb, plural: bool) -> str:
        return ("no se han " if plural else "no se ha ") + action.forms["participle"]

    @staticmethod
    def imperative(action: Verb) -> str:
        return action.forms["present"]

    @staticmethod
    def show(character: str, word: str) -> str:
        return f"{character} y sus {word}" if len(word) % 2 else f"{word.capitalize()} con {character}"


class English:
    settings = "Settings"

    @staticmethod
    def nouns(text: str) -> list[Noun]:
        return [Noun(entry, English.plural(entry), feminine=False) for entry in entries(text)]

    @staticmethod
    def plural(phrase: str) -> str:
        if phrase.endswith("s") and not phrase.endswith("ss"):
            return phrase  # already plural: rights, business hours
        if phrase.endswith(("ss", "x", "ch", "sh")):
            return phrase + "es"
        if phrase[-1] == "y" and phrase[-2] not in VOWELS:
            return phrase[:-1] + "ies"
        return phrase + "s"

    @staticmethod
    def agree(adjective: str, _feminine: bool, _plural: bool) -> str:
        return adjective

    @staticmethod
    def phrase(noun: Noun, plural: bool, adjective: str | None = None) -> str:
        return " ".join(["the", *([adjective] if adjective else []), noun.plural if plural else noun.singular])

    @staticmethod
    def _conjugate(base: str) -> dict[str, str]:
        if base.endswith(("s", "x", "z", "ch", "sh", "o")):
            third = base + "es"
        else:
            third = base[:-1] + "ies" if base[-1] == "y" and base[-2] not in "aeiou" else base + "s"
        one_syllable = sum(1 for c in base if c in "aeiou") == 1
        if base in WORDS["irregular_verbs"]["en"]:
            past, participle, gerund = WORDS["irregular_verbs"]["en"][base]
        elif one_syllable and base[-1] not in "aeiouwxy" and base[-2] in "aeiou" and base[-3] not in "aeiou":
            past = participle = base + base[-1] + "ed"  # stop → stopped
            gerund = base + base[-1] + "ing"
        elif base.endswith("e"):
            past = participle = base + "d"
            gerund = (base if base.endswith("ee") else base[:-1]) + "ing"
        elif base[-1] == "y" and base[-2] not in "aeiou":
            past = participle = base[:-1] + "ied"
            gerund = base + "ing"
        else:
            past = participle = base + "ed"
            gerund = base + "ing"
        return {
            "infinitive": base,
            "first": base,
            "participle": participle,
            "gerund": gerund,
            Tense.PRESENT: third,
            f"{Tense.PRESENT}_plural": base,
            Tense.PAST: past,
        }

    def verbs(self, text: str) -> list[Verb]:
        result = []
        for entry in text.split():
            base, *rest = entry.split("_")
            tail = "".join(f" {word}" for word in rest)
            result.append(Verb({f"{key}": form + tail for key, form in self._conjugate(base).items()}))
        return result

    @staticmethod
    def happens(verb: Verb, plural: bool, tense: Tense = Tense.PRESENT, negative: bool = False) -> str:
        forms, no = verb.forms, " not" if negative else ""
        if tense is Tense.WAS:
            return f"{'were' if plural else 'was'}{no} {forms['gerund']}"
        if tense is Tense.WILL:
            return f"will{no} {forms['infinitive']}"
        if tense is Tense.PAST:
            return f"did not {forms['infinitive']}" if negative else forms["past"]
        if negative:
            return f"{'do' if plural else 'does'} not {forms['infinitive']}"
        return forms["present_plural"] if plural else forms["present"]

    @staticmethod
    def has_happened(verb: Verb, plural: bool) -> str:
        return ("have " if plural else "has ") + verb.forms["participle"]

    @staticmethod
    def not_done(action: Verb, plural: bool) -> str:
        return ("were not " if plural else "was not ") + action.forms["participle"]

    @staticmethod
    def imperative(action: Verb) -> str:
        return action.forms["infinitive"]

    @staticmethod
    def show(character: str, word: str) -> str:
        return (
            f"{character} and the {word.capitalize()}" if len(word) % 2 else f"The {word.capitalize()} of {character}"
        )


WRITERS = {"es": Spanish(), "en": English()}


class Zipf:
    """Draws from `items` by a Zipf law over their order (the first the most often)."""

    def __init__(self, items):
        self.items = list(items)
        total, self.cumulative = 0.0, []
        for rank in range(len(self.items)):
            total += 1 / (rank + 1) ** ZIPF_EXPONENT
            self.cumulative.append(total)

    def __call__(self, rng: random.Random):
        return self.items[bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])]


def device_models() -> list[str]:
    """Television, streaming-stick, phone and console models: the long tail partners write about."""
    sizes = (32, 43, 50, 55, 65, 75, 85)
    return [
        *(f"Bravia KD-{s}X{series}{year}" for s in sizes for series in (75, 80, 85, 90) for year in "JKL"),
        *(f"Bravia XR-{s}A{series}{year}" for s in (55, 65, 77) for series in (80, 90, 95) for year in "JKL"),
        *(f"Samsung QN{s}Q{series}{year}" for s in sizes for series in (60, 70, 80, 90) for year in "ABCD"),
        *(f"Samsung UN{s}TU{series}" for s in sizes for series in (7000, 8000, 8500)),
        *(f"LG OLED{s}{series}{gen}" for s in (48, 55, 65, 77) for series in "BCG" for gen in "1234"),
        *(f"LG {s}UQ{series}" for s in sizes for series in (7070, 7590, 8000, 9000)),
        *(f"TCL {s}S{series}" for s in sizes for series in (425, 435, 446, 525, 546)),
        *(f"Hisense {s}U{series}{year}" for s in sizes for series in (6, 7, 8) for year in "HKN"),
        *(f"Philips {s}PUS{series}" for s in sizes for series in (7506, 7608, 8007, 8506)),
        *(f"Vizio M{s}-Q{series}" for s in (43, 50, 55, 65) for series in (6, 7, 8)),
        *("Roku Express", "Roku Express 4K+", "Roku Streaming Stick 4K", "Roku Ultra", "Roku Streambar"),
        *(f"Roku {n}X" for n in (3930, 3940, 3941, 3960, 4800, 4850)),
        *("Fire TV Stick Lite", "Fire TV Stick 4K Max", "Fire TV Cube", "Fire TV Stick", "Fire TV Omni"),
        *("Chromecast with Google TV", "Chromecast Ultra", "Google TV Streamer", "Apple TV 4K", "Apple TV HD"),
        *(f"Pixel {n}{v}" for n in range(6, 10) for v in ("", " Pro", "a")),
        *(f"iPhone {n}{v}" for n in range(11, 16) for v in ("", " Pro", " Pro Max", " mini")),
        *(f"Galaxy S{n}{v}" for n in range(20, 25) for v in ("", "+", " Ultra", " FE")),
        *(f"Galaxy A{n}" for n in (12, 14, 23, 32, 34, 53, 54)),
        *("iPad Air", "iPad mini", "iPad Pro", "Galaxy Tab S9", "Fire HD 10", "Xiaomi Mi Box S", "Onn 4K Pro"),
        *("Nvidia Shield TV Pro", "Xiaomi TV Stick 4K", "Xbox Series X", "Xbox Series S", "PlayStation 5"),
        *(f"Moto G{n}" for n in (32, 54, 73, 84)),
        *(f"Redmi Note {n}" for n in range(10, 14)),
    ]


PLATFORMS = {
    "Android TV": ("9", "10", "11", "12"),
    "Google TV": ("12", "14"),
    "tvOS": ("16.6", "17.1", "17.4"),
    "iOS": ("15.7", "16.5", "17.2", "17.5"),
    "Tizen": ("5.5", "6.0", "6.5", "7.0"),
    "webOS": ("5.0", "6.0", "22", "23"),
    "Roku OS": ("11.5", "12.0", "12.5", "13.0"),
    "Fire OS": ("6", "7", "8"),
    "VIDAA": ("U5", "U6"),
    "Android": ("11", "12", "13", "14"),
    "Windows": ("10", "11"),
    "macOS": ("13", "14"),
}
HTTP_STATUSES = (400, 401, 403, 404, 408, 409, 410, 412, 429, 451, 500, 502, 503, 504)
BROWSER_ERRORS = ("MEDIA_ERR_DECODE", "MEDIA_ERR_NETWORK", "MEDIA_ERR_SRC_NOT_SUPPORTED", "ERR_CONNECTION_RESET")
# Error families per category: an EDY family first (EDY-1xxx sign-in … EDY-6xxx billing), then others.
CODE_FAMILIES = {
    "sso-login": ("EDY-1", "HTTP", "SSO"),
    "catalog-metadata": ("EDY-2", "HTTP", "ING"),
    "playback": ("EDY-3", "EDY-5", "HTTP", "NET", "CDN", "BROWSER"),
    "drm": ("EDY-4", "DRM", "WV"),
    "subtitles-audio": ("EDY-5", "PLR"),
    "devices-apps": ("EDY-5", "PLR", "BROWSER"),
    "reports-billing": ("EDY-6", "BIL", "HTTP"),
    "marketing": ("EDY-6", "HTTP"),
    "support-process": ("EDY-1", "EDY-2", "EDY-3", "EDY-4", "EDY-5", "EDY-6"),
}


class Vocabulary:
    """Everything one language's articles are written from, each list drawn by a Zipf law."""

    def __init__(self, language: str, rng: random.Random, categories: list[str]):
        writer = WRITERS[language]
        self.language, self.writer = language, writer
        self.nouns = {key: Zipf(writer.nouns(text)) for key, text in WORDS["nouns"][language].items()}
        missing = set(categories) - set(self.nouns) | set(categories) - set(CODE_FAMILIES)
        if missing:
            raise SystemExit(f"the varied corpus has no words or error codes for the categories {sorted(missing)}")
        self.actions = Zipf(writer.verbs(WORDS["actions"][language]))
        self.happenings = Zipf(writer.verbs(WORDS["happenings"][language]))
        self.adjectives = Zipf(entries(WORDS["adjectives"][language]))
        self.adverbs = Zipf(entries(WORDS["adverbs"][language]))
        self.moments = Zipf(entries(WORDS["moments"][language]))
        self.menus = Zipf(entries(WORDS["settings_menus"][language]))
        cities = list(dict.fromkeys(entries(WORDS["cities"])))
        self.cities = Zipf(rng.sample(cities, len(cities)))
        brands = [p.capitalize() + s for p in WORDS["brand_prefixes"].split() for s in WORDS["brand_suffixes"].split()]
        boxes = [f"{brand} {rng.choice(WORDS['box_models'])}" for brand in rng.sample(brands, BOXES)]
        devices = device_models() + boxes
        self.devices = Zipf(rng.sample(devices, len(devices)))
        self.platforms = Zipf([f"{name} {version}" for name, versions in PLATFORMS.items() for version in versions])
        operators = [f"{kind} {city}" for kind in WORDS["operator_kinds"].split() for city in cities] + brands
        self.operators = Zipf(rng.sample(operators, len(operators)))
        people = [f"{first} {last}" for first in WORDS["first_names"].split() for last in WORDS["surnames"].split()]
        self.people = Zipf(rng.sample(people, PEOPLE))
        characters, show_words = WORDS["characters"].split(), WORDS["show_words"][language].split()
        self.shows = Zipf(writer.show(rng.choice(characters), rng.choice(show_words)) for _ in range(400))
        self.code_numbers = Zipf(rng.sample(range(1000), 400))
        self.hex_codes = Zipf(f"{rng.randrange(16**4):04X}" for _ in range(200))

    def code(self, rng: random.Random, family: str) -> str:
        number = self.code_numbers(rng)
        if family.startswith("EDY-"):
            return f"{family}{number:03d}"
        if family == "HTTP":
            return f"HTTP {HTTP_STATUSES[number % len(HTTP_STATUSES)]}"
        if family == "DRM":
            return f"DRM-0x8004{self.hex_codes(rng)}"
        if family == "WV":
            return f"Widevine {6000 + number % 40}"
        if family == "BROWSER":
            return BROWSER_ERRORS[number % len(BROWSER_ERRORS)]
        return f"{family}-{number:03d}"
