"""A generated parallel corpus with exact gold word alignments: the offline demo and test corpus.

The source language (`SRC_LANG = "en"`) is a small English grammar; the target language
(`TGT_LANG = "xx"`, not a real ISO 639 code) is an invented language with
fixed rules. Every source sentence has exactly one translation, so a model can learn the
mapping perfectly. The language is the same for every seed (its words are drawn once from a
fixed seed); the seed of `generate_pairs` only chooses the sentences.

Source grammar (about 520 word types; 3 to 30 tokens a side, mean about 11.7):

    sentence    = clause [conj clause] "."             conj: and but or so
    clause      = subject verb-group [object | adjective] [adverb] pp* [subordinate]
    subject     = pronoun | np                         I you he she it we they ("you" = 2sg)
    object      = np | object pronoun                  me you him her it us them
    np          = (determiner | number) adjective* noun [pp]     (90 nouns, 36 adjectives)
    pp          = preposition np                       in on under behind near with ... (12)
    subordinate = "that" clause      after say think believe hope know
                | (because when if although while until) clause     (nested 2 deep at most)
    verb-group  = sees / saw / will see / has seen, negated with do-support (does not see,
                  did not see, will not see, has not seen); copula: is / was / will be /
                  has been (+ not) + adjective. 57 verbs, 6 of them separable in the target.

Target language rules (what a model must learn):

- Nouns have a fixed gender and number; the ending shows both: masculine -o / -i,
  feminine -a / -e (dog: sapuna, dogs: sapune; horse: mokiso, horses: mokisi).
- A noun phrase is determiner (or number), noun, then the adjectives in mirrored order:
  "the big old dogs" -> "de sapune birarali fusanali". The determiner ends like the noun
  (o/a/i/e), attributive adjectives agree (-el -al -eli -ali). Predicative adjectives
  ("is old") are invariable: always the masculine singular form (birarel).
- "the" after a preposition fuses with it: "in the dog" -> "enda sapuna" (two words, one).
- Verbs agree with the subject in person and number (1sg 2sg 3sg 1pl 3pl), also where
  English does not show it: present see -> mitiv-o -is -it -imo -unt. The past, future and
  perfect are an inflected auxiliary (ev-, vol-, av- + the same endings) plus an infinitive
  (-ar) or participle (-ut) at the end of the clause: "saw" -> "evit ... mitivar" (one word,
  two). Separable verbs add a particle before it: "calls" -> "baletit ... or".
- Negation wraps the finite verb: "does not see" -> "nu mitivit pa" ("not" -> two words;
  "does"/"do" has no word of its own and gets a possible link to the verb).
- Main clause: subject, adverb, finite verb, object/adjective, pps, particle, infinitive or
  participle, subordinate clause. Subordinate clause (verb-final): conjunction, subject,
  adverb, object/adjective, pps, particle, infinitive/participle, finite verb, nested clause.
- The first word of each side is capitalised; "." is a token of its own on both sides.

Alignments are talp lines: 1-based `i-j` sure links (source word i, target word j) and `ipj`
possible links. Every word of both sides is aligned; links are sure except for "does"/"do"
and for "the" fused into a preposition. Example (`generate_pairs(1000, 0)[863]`):

    They have known that we laughed for the old rabbit .
    Ili avunt galudut ke noi perda garesa biraral sibumar evimo .
    1-1 2-2 3-3 4-4 5-5 6-9 6-10 7-6 8p6 9-8 10-7 11-11

"laughed" becomes the infinitive sibumar + the 1pl past auxiliary evimo at the end of the
verb-final "that" clause; "for the" fuses into perda (feminine singular, like garesa), and
"old" follows its noun as biraral.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

SRC_LANG = "en"
TGT_LANG = "xx"

MIN_LEN = 3
MAX_LEN = 30
_MAX_DEPTH = 2  # subordinate clauses nest at most this deep

# Persons: 0=1sg 1=2sg 2=3sg 3=1pl 4=3pl. Agreement classes: (feminine, plural) -> 0..3.
_P1SG, _P2SG, _P3SG, _P1PL, _P3PL = range(5)


def _agr(feminine: bool, plural: bool) -> int:
    return 2 * plural + feminine


_DET_END = ("o", "a", "i", "e")  # masc sg, fem sg, masc pl, fem pl
_NOUN_END = ("o", "a", "i", "e")
_ADJ_END = ("el", "al", "eli", "ali")
_PERSON_END = ("o", "is", "it", "imo", "unt")
_PARTICIPLE, _INFINITIVE, _ADVERB = "ut", "ar", "e"

# ---------------------------------------------------------------- source lexicon


def _words(text: str) -> list[str]:
    return text.split()


_NOUNS_EN = _words("""
dog cat horse bird cow mouse:mice fox:foxes wolf:wolves rabbit duck goat frog bear lion
man:men woman:women child:children boy girl teacher student doctor farmer king queen friend
neighbour soldier baker painter singer driver sailor nurse house garden city:cities village
river forest mountain road bridge school market table chair window door book letter song
story:stories picture car boat train ship apple cake flower tree stone key box:boxes bag cup
bottle ball hat coat shoe lamp clock bed room kitchen shop island lake field castle tower wall
gift coin map ring church:churches bench:benches
""")
_ADJS_EN = _words("""
big small old young red blue green black white happy sad tired hungry angry quiet loud
beautiful ugly strong weak rich poor clever kind brave lazy busy new heavy warm cold dark
bright famous strange empty
""")
_ADVS_EN = _words("""
quickly slowly often always sometimes rarely quietly loudly happily sadly carefully easily
again together early soon
""")
# base[:past[:participle]]; regular forms are derived. "+" marks a separable verb.
_TRANSITIVE_EN = _words("""
see:saw:seen find:found:found take:took:taken make:made:made buy:bought:bought
sell:sold:sold carry +open close build:built:built paint write:wrote:written watch follow
help love like want need +visit +clean wash cook eat:ate:eaten hold:held:held
bring:brought:brought steal:stole:stolen hide:hid:hidden catch:caught:caught
throw:threw:thrown break:broke:broken draw:drew:drawn forget:forgot:forgotten meet:met:met
+call push pull touch
""")
_INTRANSITIVE_EN = _words("""
sleep:slept:slept run:ran:run walk laugh cry sing:sang:sung dance swim:swam:swum work wait
+arrive fall:fell:fallen +smile jump
""")
_SAYING_EN = _words("say:said:said think:thought:thought believe hope know:knew:known")
_PREPS_EN = _words("in on under behind near with without from for through into beside")

# ------------------------------------------------------- hand-made target function words

# determiner: English singular, English plural ("" = not used), target stem + _DET_END
_DETS = (
    ("the", "the", "d"),
    ("a", "", "un"),
    ("this", "these", "st"),
    ("my", "my", "mi"),
    ("your", "your", "tu"),
    ("his", "his", "su"),
    ("our", "our", "nostr"),
    ("their", "their", "lor"),
    ("every", "", "ogn"),
    ("", "some", "alk"),
    ("", "many", "mult"),
)
_NUMBERS = {
    "two": "du",
    "three": "tre",
    "four": "kvar",
    "five": "kin",
    "six": "ses",
    "seven": "sep",
    "eight": "ok",
    "nine": "non",
    "ten": "dek",
    "twelve": "dudek",
}
_PREPS_XX = ("en", "sur", "sub", "dop", "pres", "kon", "sin", "ab", "per", "tra", "inte", "lat")
_SUBJECTS = (
    ("I", "jo"),
    ("you", "ti"),
    ("he", "lu"),
    ("she", "lei"),
    ("it", "zo"),
    ("we", "noi"),
    ("they", "ili"),
)
_SUBJECT_PERSON = (_P1SG, _P2SG, _P3SG, _P3SG, _P3SG, _P1PL, _P3PL)
_OBJECTS = (
    ("me", "jon"),
    ("you", "tin"),
    ("him", "lun"),
    ("her", "lein"),
    ("it", "zon"),
    ("us", "noin"),
    ("them", "ilin"),
)
_COMPLEMENTIZERS = {
    "that": "ke",
    "because": "kar",
    "when": "kwan",
    "if": "se",
    "although": "malke",
    "while": "dum",
    "until": "gis",
}
_CONJUNCTIONS = {"and": "e", "but": "ma", "or": "au", "so": "tal"}
_NEG_BEFORE, _NEG_AFTER = "nu", "pa"
_AUXILIARIES = {"past": "ev", "future": "vol", "perfect": "av"}
_COPULA = "es"
_SEPARABLE_PARTICLES = ("ap", "ek", "um", "or", "ib", "uz")
_BE_PRESENT = ("am", "are", "is", "are", "are")
_BE_PAST = ("was", "were", "was", "were", "were")


def _third_singular(base: str) -> str:
    if base.endswith(("s", "sh", "ch", "x", "o")):
        return base + "es"
    if base.endswith("y") and base[-2] not in "aeiou":
        return base[:-1] + "ies"
    return base + "s"


def _regular_past(base: str) -> str:
    if base.endswith("e"):
        return base + "d"
    if base.endswith("y") and base[-2] not in "aeiou":
        return base[:-1] + "ied"
    return base + "ed"


# ---------------------------------------------------------------- the fixed lexicon


@dataclass(frozen=True)
class _Noun:
    sg: str
    pl: str
    feminine: bool
    forms: tuple[str, str, str, str]  # target form per agreement class


@dataclass(frozen=True)
class _Adjective:
    en: str
    forms: tuple[str, str, str, str]


@dataclass(frozen=True)
class _Verb:
    base: str
    third: str
    past: str
    participle: str
    present_xx: tuple[str, ...]  # per person
    participle_xx: str
    infinitive_xx: str
    particle: str  # separable particle, "" if none


def _coin(rng: random.Random, taken: set[str], forms) -> tuple[str, ...]:
    """Draw CV+CVC stems until all of a stem's forms are unused; reserve and return them."""
    while True:
        stem = (
            rng.choice("bdfgklmnprstvz")
            + rng.choice("aeiou")
            + rng.choice("bdfgklmnprstvz")
            + rng.choice("aeiou")
            + rng.choice("bdfgklmnprstvz")
        )
        made = forms(stem)
        if not taken.intersection(made) and len(set(made)) == len(made):
            taken.update(made)
            return made


def _build_lexicon():
    rng = random.Random(1409)  # fixes the target language; never derived from a corpus seed
    taken = {*_PREPS_XX, *_NUMBERS.values()}
    taken |= {s + e for *_, s in _DETS for e in _DET_END}
    taken |= {p + _DETS[0][2] + e for p in _PREPS_XX for e in _DET_END}  # fused "in the"
    taken |= {x for table in (_SUBJECTS, _OBJECTS) for _, x in table}
    taken |= {*_COMPLEMENTIZERS.values(), *_CONJUNCTIONS.values(), _NEG_BEFORE, _NEG_AFTER}
    taken |= {a + e for a in (*_AUXILIARIES.values(), _COPULA) for e in _PERSON_END}
    taken |= {*_SEPARABLE_PARTICLES, _COPULA + _PARTICIPLE, _COPULA + _INFINITIVE, "."}

    nouns = []
    for entry in _NOUNS_EN:
        sg, _, pl = entry.partition(":")
        feminine = rng.random() < 0.5
        ends = _NOUN_END[feminine::2]
        singular, plural = _coin(rng, taken, lambda s, ends=ends: (s + ends[0], s + ends[1]))
        forms = (singular, singular, plural, plural)
        nouns.append(_Noun(sg, pl or sg + ("es" if sg.endswith(("x", "ch", "s")) else "s"), feminine, forms))
    adjectives = [
        _Adjective(en, _coin(rng, taken, lambda s: tuple(s + e for e in _ADJ_END))) for en in _ADJS_EN
    ]
    adverbs = {en: _coin(rng, taken, lambda s: (s + _ADVERB,))[0] for en in _ADVS_EN}

    def verb(entry: str, particle: str = "") -> _Verb:
        base, *rest = entry.split(":")
        past = rest[0] if rest else _regular_past(base)
        participle = rest[1] if rest else past
        forms = _coin(rng, taken, lambda s: (*(s + e for e in _PERSON_END), s + _PARTICIPLE, s + _INFINITIVE))
        return _Verb(base, _third_singular(base), past, participle, forms[:5], forms[5], forms[6], particle)

    particles = iter(_SEPARABLE_PARTICLES)

    def verbs(entries: list[str]) -> tuple[_Verb, ...]:
        return tuple(verb(e[1:], next(particles)) if e[0] == "+" else verb(e) for e in entries)

    transitive, intransitive, saying = (verbs(x) for x in (_TRANSITIVE_EN, _INTRANSITIVE_EN, _SAYING_EN))
    be = _Verb(
        "be",
        "is",
        "was",
        "been",
        tuple(_COPULA + e for e in _PERSON_END),
        _COPULA + _PARTICIPLE,
        _COPULA + _INFINITIVE,
        "",
    )
    return tuple(nouns), tuple(adjectives), adverbs, transitive, intransitive, saying, be


_NOUNS, _ADJECTIVES, _ADVERBS, _TRANSITIVE, _INTRANSITIVE, _SAYING, _BE = _build_lexicon()
_ADVERB_LIST = tuple(_ADVERBS.items())
_SINGULAR_DETS = tuple(d for d in _DETS if d[0])
_PLURAL_DETS = tuple(d for d in _DETS if d[1])
_NUMBER_LIST = tuple(_NUMBERS.items())
_PREP_XX = dict(zip(_PREPS_EN, _PREPS_XX, strict=True))
_ADVERBIAL_COMPLEMENTIZERS = tuple(c for c in _COMPLEMENTIZERS if c != "that")
_CONJUNCTION_LIST = tuple(_CONJUNCTIONS)

# ---------------------------------------------------------------- generation

# A target word: (form, sure source indices, possible source indices), 0-based.
_Word = tuple[str, tuple[int, ...], tuple[int, ...]]


@dataclass(frozen=True)
class GeneratedPair:
    """One generated sentence pair with its gold word alignment."""

    src: str
    tgt: str
    alignment: str  # talp line, 1-based, "i-j" sure / "ipj" possible, space separated


class _Sentence:
    """Collects the source words in order; target words refer to them by index."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.src: list[str] = []

    def add(self, word: str) -> int:
        self.src.append(word)
        return len(self.src) - 1

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, seq):
        return seq[self.rng.randrange(len(seq))]

    def noun_phrase(self, allow_pp: bool, prep: int | None = None) -> tuple[list[_Word], bool]:
        """Render an np (after preposition `prep`, if given); return its words and plurality."""
        rng = self.rng
        noun = self.pick(_NOUNS)
        plural = self.chance(0.4)
        n_adj = 0 if self.chance(0.55) else 1 if self.chance(0.75) else 2
        first = rng.randrange(len(_ADJECTIVES))
        second = rng.randrange(len(_ADJECTIVES) - 1)
        adjs = [_ADJECTIVES[first], _ADJECTIVES[second + (second >= first)]][:n_adj]
        agr = _agr(noun.feminine, plural)
        next_en = adjs[0].en if adjs else noun.sg
        if plural and self.chance(0.15):
            det_en, det_xx = self.pick(_NUMBER_LIST)
        else:
            det = _DETS[0] if self.chance(0.5) else self.pick(_PLURAL_DETS if plural else _SINGULAR_DETS)
            det_en, det_xx = det[plural], det[2] + _DET_END[agr]
            if det_en == "a" and next_en[0] in "aeiou":
                det_en = "an"
        d = self.add(det_en)
        adj_idx = [self.add(a.en) for a in adjs]
        n = self.add(noun.pl if plural else noun.sg)
        if prep is not None and det_en == "the":
            out = [(_PREP_XX[self.src[prep]] + det_xx, (prep,), (d,))]
        else:
            out = [(_PREP_XX[self.src[prep]], (prep,), ())] if prep is not None else []
            out.append((det_xx, (d,), ()))
        out.append((noun.forms[agr], (n,), ()))
        out.extend((a.forms[agr], (i,), ()) for a, i in zip(adjs[::-1], adj_idx[::-1], strict=True))
        if allow_pp and self.chance(0.12):
            out += self.prep_phrase()
        return out, plural

    def prep_phrase(self) -> list[_Word]:
        """Render a preposition and its np (which has no pp of its own)."""
        prep = self.add(self.pick(_PREPS_EN))
        return self.noun_phrase(allow_pp=False, prep=prep)[0]

    def verb_group(self, verb: _Verb, person: int) -> tuple[list[_Word], list[_Word]]:
        """Render tense, negation and verb; return the finite part and the clause-final part."""
        tense = self.rng.choices(("present", "past", "future", "perfect"), (35, 30, 15, 20))[0]
        negated = self.chance(0.15)
        third = person == _P3SG
        simple = verb is _BE or not negated  # no do-support or auxiliary in English
        neg = -1
        if tense == "present" and simple:
            v = self.add(_BE_PRESENT[person] if verb is _BE else verb.third if third else verb.base)
            if negated:
                neg = self.add("not")
            finite: _Word = (verb.present_xx[person], (v,), ())
            final: list[_Word] = []
        elif tense == "present":  # "does"/"do" has no word of its own: possible link to the verb
            do = self.add("does" if third else "do")
            neg = self.add("not")
            v = self.add(verb.base)
            finite, final = (verb.present_xx[person], (v,), (do,)), []
        elif tense == "past" and simple:  # "saw" -> past auxiliary + infinitive
            v = self.add(_BE_PAST[person] if verb is _BE else verb.past)
            if negated:
                neg = self.add("not")
            finite = (_AUXILIARIES["past"] + _PERSON_END[person], (v,), ())
            final = [(verb.infinitive_xx, (v,), ())]
        else:
            aux = self.add({"past": "did", "future": "will"}.get(tense, "has" if third else "have"))
            if negated:
                neg = self.add("not")
            perfect = tense == "perfect"
            v = self.add(verb.participle if perfect else verb.base)
            finite = (_AUXILIARIES[tense] + _PERSON_END[person], (aux,), ())
            final = [(verb.participle_xx if perfect else verb.infinitive_xx, (v,), ())]
        if verb.particle:
            final.insert(0, (verb.particle, (v,), ()))
        if negated:
            return [(_NEG_BEFORE, (neg,), ()), finite, (_NEG_AFTER, (neg,), ())], final
        return [finite], final

    def clause(self, depth: int, subordinate: bool) -> list[_Word]:
        """Render a clause in source order; return its target words in target order."""
        if self.chance(0.3):
            k = self.rng.randrange(len(_SUBJECTS))
            subject: list[_Word] = [(_SUBJECTS[k][1], (self.add(_SUBJECTS[k][0]),), ())]
            person = _SUBJECT_PERSON[k]
        else:
            subject, plural = self.noun_phrase(allow_pp=True)
            person = _P3PL if plural else _P3SG
        kind = self.rng.choices(("tr", "intr", "be", "say"), (50, 20, 15, 15 if depth < _MAX_DEPTH else 0))[0]
        verb = {"tr": _TRANSITIVE, "intr": _INTRANSITIVE, "say": _SAYING}.get(kind, (_BE,))
        finite, final = self.verb_group(self.pick(verb), person)
        obj: list[_Word] = []
        if kind == "tr" and self.chance(0.15):
            en, xx = self.pick(_OBJECTS)
            obj = [(xx, (self.add(en),), ())]
        elif kind == "tr":
            obj = self.noun_phrase(allow_pp=True)[0]
        elif kind == "be":
            adj = self.pick(_ADJECTIVES)
            obj = [(adj.forms[0], (self.add(adj.en),), ())]
        adverb: list[_Word] = []
        if self.chance(0.2):
            en, xx = self.pick(_ADVERB_LIST)
            adverb = [(xx, (self.add(en),), ())]
        pps: list[_Word] = []
        if kind != "say":
            n_pp = 0 if self.chance(0.65) else 1 if self.chance(0.75) else 2
            for _ in range(n_pp):
                pps += self.prep_phrase()
        nested: list[_Word] = []
        if kind == "say":
            nested = self.subordinate("that", depth)
        elif depth < _MAX_DEPTH and self.chance(0.15):
            nested = self.subordinate(self.pick(_ADVERBIAL_COMPLEMENTIZERS), depth)
        if subordinate:
            return subject + adverb + obj + pps + final + finite + nested
        return subject + adverb + finite + obj + pps + final + nested

    def subordinate(self, complementizer: str, depth: int) -> list[_Word]:
        """Render a subordinate clause introduced by `complementizer`."""
        c = self.add(complementizer)
        return [(_COMPLEMENTIZERS[complementizer], (c,), ()), *self.clause(depth + 1, True)]

    def sentence(self) -> list[_Word]:
        """Render a whole sentence: one or two coordinated main clauses and a full stop."""
        words = self.clause(0, False)
        if self.chance(0.12):
            conj = self.pick(_CONJUNCTION_LIST)
            words = [*words, (_CONJUNCTIONS[conj], (self.add(conj),), ()), *self.clause(0, False)]
        words.append((".", (self.add("."),), ()))
        return words


def _capitalise(word: str) -> str:
    return word[:1].upper() + word[1:]


def _pairs(rng: random.Random) -> Iterator[GeneratedPair]:
    """Yield an endless stream of pairs of MIN_LEN..MAX_LEN words a side (repeats possible)."""
    while True:
        s = _Sentence(rng)
        words = s.sentence()
        if not (MIN_LEN <= len(s.src) <= MAX_LEN and MIN_LEN <= len(words) <= MAX_LEN):
            continue
        links = sorted(
            (i + 1, j + 1, sep)
            for j, (_, sure, possible) in enumerate(words)
            for sep, idx in (("-", sure), ("p", possible))
            for i in idx
        )
        yield GeneratedPair(
            src=" ".join([_capitalise(s.src[0]), *s.src[1:]]),
            tgt=" ".join([_capitalise(words[0][0]), *(w[0] for w in words[1:])]),
            alignment=" ".join(f"{i}{sep}{j}" for i, j, sep in links),
        )


def _distinct(stream: Iterator[GeneratedPair], n: int, used: set[str]) -> list[GeneratedPair]:
    out = []
    while len(out) < n:
        pair = next(stream)
        if pair.src not in used:
            used.add(pair.src)
            out.append(pair)
    return out


def generate_pairs(n: int, seed: int) -> list[GeneratedPair]:
    """Return `n` pairs with distinct source sentences, fully determined by `seed`."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return _distinct(_pairs(random.Random(seed)), n, set())


def generate_splits(seed: int, sizes: dict[str, int]) -> dict[str, list[GeneratedPair]]:
    """Return splits of the given sizes, disjoint by source sentence, keyed in `sizes` order.

    Each split draws from its own stream (seeded by `seed` and its name); smaller splits are
    filled first, so valid/test stay the same when only the train size changes.
    """
    if any(size < 0 for size in sizes.values()):
        raise ValueError(f"split sizes must be >= 0, got {sizes}")
    used: set[str] = set()
    drawn = {
        name: _distinct(_pairs(random.Random(f"{seed}/{name}")), size, used)
        for name, size in sorted(sizes.items(), key=lambda kv: kv[1])
    }
    return {name: drawn[name] for name in sizes}
