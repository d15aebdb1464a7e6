"""Text normalisation, tokenisation and the compact linear text model of the insight app.

Everything the classifier needs at prediction time lives here, so that a pickled
`LinearTextModel` refers only to this module (and to scikit-learn's vectorizers).

* `message_text(title, detail)` normalises a message (NFKC, whitespace collapsed, tabs and
  full-width spaces included) and joins title and detail; training and prediction both go
  through it, so they see the same text.
* `words(text)` is the jieba tokeniser (search mode: long words and their sub-words), with a
  quiet, thread-safe, once-per-process initialisation whose cost is recorded in
  `JIEBA_LOAD_SECONDS`.
* `duplicate_groups(titles, details)` links messages that share a normalised title or a
  normalised detail, so that cross-validation never puts copies of a message on both sides.
* `LinearTextModel` is the trained model: two TF-IDF vectorizers (character 1–3-grams and
  jieba words) and one linear layer (float32) followed by a softmax.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
import unicodedata

import numpy as np

# Characters of a message kept for classification (title first). The median message has 20
# (title only) to 220 (with detail) characters; the first 1,000 carry the topic (a character
# n-gram SVM scores the same with 800 as with 2,000) and bound the time of the rare very long
# detail (up to 12,000 characters in train.csv).
MAX_CHARS = 1000

# Characters of it that are also cut into words: jieba costs 2–3 µs a character, and the
# character n-grams already cover the rest of a long detail (5-fold macro-F1 of the model:
# 0.9089 with 400, 0.9090 with 2,000).
WORD_CHARS = 300


def text_config() -> dict:
    """What a trained model depends on besides its weights; stored in the artefact and checked on load."""
    return {"max_chars": MAX_CHARS, "word_chars": WORD_CHARS, "normalise": "NFKC+ws", "words": "jieba.cut_for_search(HMM=False)"}


_SPACE = re.compile(r"\s+")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")


def normalise(text) -> str:
    """NFKC (full-width letters, digits, punctuation and spaces to their plain forms), invisible
    characters removed, any run of whitespace (tabs, newlines, U+3000) to one space, stripped."""
    if text is None:
        return ""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", str(text)))
    return _SPACE.sub(" ", text).strip()


def message_text(title, detail="") -> str:
    """The text the model reads: normalised title and detail joined by a space, at most MAX_CHARS."""
    # Cut the raw texts first so that a 12,000-character detail costs no more than a short one
    # (normalising only shortens a text, but for the rare NFKC expansion such as ㎡ → m2).
    t = normalise(str(title)[:MAX_CHARS] if title is not None else "")
    d = normalise(str(detail)[:MAX_CHARS] if detail is not None else "")
    text = f"{t} {d}" if t and d else (t or d)
    return text[:MAX_CHARS]


# --- jieba ---------------------------------------------------------------------------------

JIEBA_LOAD_SECONDS: float | None = None
_jieba_lock = threading.Lock()
_jieba_ready = False


def jieba_tokenizer():
    """The jieba module, initialised once per process without its chatter on stderr."""
    global _jieba_ready, JIEBA_LOAD_SECONDS
    import jieba

    if not _jieba_ready:
        with _jieba_lock:
            if not _jieba_ready:
                jieba.setLogLevel(logging.WARNING)
                start = time.perf_counter()
                jieba.initialize()
                JIEBA_LOAD_SECONDS = time.perf_counter() - start
                _jieba_ready = True
    return jieba


@functools.lru_cache(maxsize=20_000)
def _words(text: str) -> tuple[str, ...]:
    jieba = jieba_tokenizer()
    return tuple(w for w in jieba.cut_for_search(text.lower(), HMM=False) if w.strip())


def words(text: str) -> tuple[str, ...]:
    """jieba search-mode tokens of the first WORD_CHARS characters of a normalised text
    (lower-cased, whitespace dropped).

    Search mode adds the sub-words of long words (`共和国` → `共和`, `共和国`),
    which generalises better than the default mode on short titles (5-fold macro-F1 of a word
    unigram SVM: 0.897 against 0.883). jieba's HMM guesses at words missing from its dictionary
    are off: 30 % faster, the same macro-F1 (0.9077 against 0.9073 in the 5-fold bench).
    Results are memoised per process (the same text is tokenised once across cross-validation
    folds).
    """
    return _words(text[:WORD_CHARS])


# --- duplicates ----------------------------------------------------------------------------


def duplicate_groups(titles, details) -> np.ndarray:
    """A group id per message: messages sharing a normalised non-empty title or detail (directly
    or through a chain) share a group. train.csv has the same title as a title-only row and as a
    title + detail row, and details repeated as detail-only rows; a fold split by these groups
    keeps every copy on one side."""
    parent = list(range(len(titles)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[tuple[str, str], int] = {}
    for i, (title, detail) in enumerate(zip(titles, details)):
        for key in (("t", normalise(title)), ("d", normalise(detail))):
            if not key[1]:
                continue
            j = first.setdefault(key, i)
            if j != i:
                parent[find(i)] = find(j)
    return np.array([find(i) for i in range(len(titles))])


# --- the model -----------------------------------------------------------------------------

# A character n-gram (n ≤ 3) as one integer: its code points, 21 bits each. Exact (no hashing
# collisions), and an unigram < any bigram < any trigram since no code point is 0 in a text.
_CP_BITS = 21


def char_ngram_key(gram: str) -> int:
    key = 0
    for ch in gram:
        key = (key << _CP_BITS) | ord(ch)
    return key


def _char_ngram_keys(text: str) -> np.ndarray:
    """The keys of every character 1-, 2- and 3-gram of a text, with repeats (the n-grams that
    scikit-learn's analyzer="char", ngram_range=(1, 3) produces for the same lower-cased text)."""
    cp = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    return np.concatenate([cp, (cp[:-1] << _CP_BITS) | cp[1:], (cp[:-2] << 2 * _CP_BITS) | (cp[1:-1] << _CP_BITS) | cp[2:]])


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.array(z, dtype=np.float64)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


class LinearTextModel:
    """TF-IDF (characters 1–3 and jieba words) → one linear layer → softmax.

    The layer is the stacked ensemble folded into one matrix: the meta logistic regression over
    the base models' scores (two linear SVMs and two complement naive Bayes) is linear in those
    scores, which are linear in the features, so the whole ensemble is `x_char·W_char +
    x_word·W_word + b`.

    The vectorizers are fitted by scikit-learn (`TfidfVectorizer`, sublinear tf, l2 norm) and
    kept here as arrays: character n-grams as sorted integer keys (`char_ngram_key`), words as a
    dict, each with its idf and its row of weights. A message is featurised with a few numpy
    calls instead of scikit-learn's per-n-gram Python loop (a 2,000-character message: 0.3 ms
    instead of 4 ms); `from_sklearn` checks nothing is lost and the tests compare both paths.
    """

    format_version = 2

    def __init__(self, classes, char_keys, char_idf, w_char, word_vocab, word_idf, w_word, bias):
        self.classes_ = np.asarray(classes, dtype=object)
        self.char_keys = np.asarray(char_keys, dtype=np.int64)
        self.char_idf = np.asarray(char_idf, dtype=np.float32)
        self.w_char = np.ascontiguousarray(w_char, dtype=np.float32)
        self.word_vocab = dict(word_vocab)
        self.word_idf = np.asarray(word_idf, dtype=np.float32)
        self.w_word = np.ascontiguousarray(w_word, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32)

    @classmethod
    def from_sklearn(cls, char_vectorizer, word_vectorizer, classes, w_char, w_word, bias):
        """From fitted TfidfVectorizers (char 1–3, and words with analyzer=`words`) and the
        weights over their columns."""
        cv, wv = char_vectorizer, word_vectorizer
        assert cv.analyzer == "char" and cv.ngram_range == (1, 3) and cv.lowercase and cv.sublinear_tf and cv.norm == "l2"  # invariant of the fitted model  # noqa: S101  # nosec B101
        assert wv.analyzer is words and wv.sublinear_tf and wv.norm == "l2"  # invariant of the fitted model  # noqa: S101  # nosec B101
        terms = sorted(cv.vocabulary_.items(), key=lambda kv: char_ngram_key(kv[0]))
        keys = np.array([char_ngram_key(t) for t, _ in terms], dtype=np.int64)
        cols = np.array([c for _, c in terms], dtype=np.int64)
        assert len(np.unique(keys)) == len(keys)  # invariant of the fitted model  # noqa: S101  # nosec B101
        return cls(
            classes,
            keys,
            cv.idf_[cols],
            np.asarray(w_char)[cols],
            wv.vocabulary_,
            wv.idf_,
            w_word,
            bias,
        )

    def _char_scores(self, text: str) -> np.ndarray:
        keys = _char_ngram_keys(text.lower())
        if not len(keys):
            return 0.0
        grams, counts = np.unique(keys, return_counts=True)
        pos = np.searchsorted(self.char_keys, grams)
        pos[pos == len(self.char_keys)] = 0
        known = self.char_keys[pos] == grams
        if not known.any():
            return 0.0
        pos = pos[known]
        x = (1.0 + np.log(counts[known])) * self.char_idf[pos]
        x /= np.sqrt(np.dot(x, x))
        return x @ self.w_char[pos]

    def _word_scores(self, text: str) -> np.ndarray:
        counts: dict[int, int] = {}
        vocab = self.word_vocab
        for w in words(text):
            j = vocab.get(w)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        if not counts:
            return 0.0
        pos = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        x = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))) * self.word_idf[pos]
        x /= np.sqrt(np.dot(x, x))
        return x @ self.w_word[pos]

    def decision_function(self, texts) -> np.ndarray:
        out = np.empty((len(texts), len(self.classes_)), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._char_scores(text) + self._word_scores(text) + self.bias
        return out

    def predict_proba(self, texts) -> np.ndarray:
        return _softmax(self.decision_function(texts))

    def predict(self, texts) -> np.ndarray:
        return self.classes_[self.decision_function(texts).argmax(axis=1)]
