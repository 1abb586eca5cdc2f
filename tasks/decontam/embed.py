"""Tasks layer (decontam): layer 4, embeddings for rephrased copies.

A rephrased copy shares few n-grams with its original but keeps the mathematics (numbers,
expressions, the answer) and many content words (names, objects). Candidates are each
prompt's nearest benchmark items by sparse TF-IDF cosine over the benchmark vocabulary
(`embedding_neighbours` of them, words in more than `embedding_max_df` of the items left
out), kept only when the mathematics agrees with enough information (IDF of the shared
numbers, commands and answer >= `embedding_min_info`) and the answers do not differ; only the
best-scored `embedding_max_share` of a chunk's prompts go on (`shortlist`); a sentence-
embedding model (`tasks.embeddings`, all-MiniLM-L6-v2 offline by default) then scores each
candidate pair, and cosine >= `embedding_threshold` is a hit. So the slow model sees a few
prompts per thousand, not all of them, and reads each as cheaply as the verdicts allow: the
first `embedding_max_tokens` (128) tokens, in bfloat16 where the CPU has it, on one torch thread
(`embedding_threads`; threads that wait on each other waste a shared machine's cores). Item
vectors are cached in `decontam_embeddings` by the stage, under `vector_model`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from schemas.decontam import DecontamSettings
from tasks import embeddings
from tasks.decontam import mathsig
from tasks.decontam.encode import TokenBatch
from tasks.decontam.ngrams import Hit

_CHUNK = 4096  # prompts per sparse product: bounds memory whatever the pool size


def encode(texts: list[str], settings: DecontamSettings) -> np.ndarray:
    """L2-normalised vectors of the settings' model (`tasks.embeddings`, on CPU)."""
    return embeddings.encode(texts, settings.embedding_model, "cpu", settings.embedding_batch_size,
                             settings.embedding_dtype, settings.embedding_max_tokens, settings.embedding_threads)


def vector_model(settings: DecontamSettings) -> str:
    """The name cached item vectors are stored under: the model, its precision unless float32
    and its token limit (vectors made another way are not mixed with these)."""
    dtype = embeddings.resolve_dtype(settings.embedding_dtype)
    name = settings.embedding_model if dtype == "float32" else f"{settings.embedding_model}@{dtype}"
    return f"{name}@{settings.embedding_max_tokens}"


def _tfidf(batch: TokenBatch, idf: np.ndarray) -> sp.csr_matrix:
    """Rows of sublinear TF-IDF over the benchmark vocabulary, L2-normalised."""
    vocab = len(idf)
    keep = (batch.ids > 0) & (batch.ids < vocab)
    rows = batch.doc_of()[keep]
    matrix = sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (rows, batch.ids[keep])),
                           shape=(len(batch.lengths), vocab))
    matrix.sum_duplicates()
    matrix.data = (1.0 + np.log(matrix.data)) * idf[matrix.indices]
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ matrix)


@dataclass
class Candidate:
    doc: int  # index into the prompts given to `candidates`
    item: int
    lexical: float
    info: float = 0.0  # rarity of the shared numbers and answer (`_agrees`)


class EmbeddingLayer:
    def __init__(self, items: TokenBatch, vocab_size: int, item_sigs: list[mathsig.Signature],
                 settings: DecontamSettings):
        self.settings, self.item_sigs = settings, item_sigs
        self.rarity = mathsig.Rarity.of([sig.math for sig in item_sigs], [sig.answer for sig in item_sigs])
        n_items = max(len(items.lengths), 1)
        keep = (items.ids > 0) & (items.ids <= vocab_size)
        docs = items.doc_of()[keep]
        pairs = np.unique(docs * (vocab_size + 1) + items.ids[keep])
        df = np.bincount(pairs % (vocab_size + 1), minlength=vocab_size + 1).astype(np.float32)
        idf = np.log((n_items + 1) / (df + 1)) + 1.0
        # Too common to tell items apart (a floor keeps small benchmark sets usable).
        idf[df > max(settings.embedding_max_df * n_items, 5)] = 0.0
        idf[0] = 0.0
        self.idf = idf
        self.items_t = _tfidf(items, idf).T.tocsr()

    def candidates(self, batch: TokenBatch, sigs: list[mathsig.Signature]) -> list[Candidate]:
        """Nearest items by TF-IDF whose mathematics agrees and whose answer does not differ."""
        s = self.settings
        out: list[Candidate] = []
        for start in range(0, len(batch.lengths), _CHUNK):
            stop = min(start + _CHUNK, len(batch.lengths))
            lo, hi = batch.offsets[start], batch.offsets[stop]
            chunk = TokenBatch(batch.ids[lo:hi], batch.offsets[start:stop + 1] - lo)
            scores = (_tfidf(chunk, self.idf) @ self.items_t).tocoo()
            good = scores.data >= s.embedding_min_lexical
            rows, cols, vals = scores.row[good], scores.col[good], scores.data[good]
            order = np.lexsort((-vals, rows))
            rows, cols, vals = rows[order], cols[order], vals[order]
            first = np.searchsorted(rows, rows, "left")
            keep = np.arange(len(rows)) - first < s.embedding_neighbours
            for row, col, val in zip(rows[keep].tolist(), cols[keep].tolist(), vals[keep].tolist()):
                doc = start + row
                info = self._agrees(sigs[doc], self.item_sigs[col])
                if info is not None:
                    out.append(Candidate(doc, col, val, info))
        return out

    def shortlist(self, candidates: list[Candidate], texts: int) -> tuple[list[Candidate], int]:
        """The candidates of the `embedding_max_share` of `texts` (at least `embedding_min_shortlist`)
        prompts with the best TF-IDF score times shared information (a copy shares words and
        rare numbers), and how many prompts were left out: the model's work per chunk is bounded
        however close the pool's topic is to the benchmarks'."""
        s = self.settings
        best: dict[int, float] = {}
        for c in candidates:
            best[c.doc] = max(best.get(c.doc, 0.0), c.lexical * c.info)
        room = max(s.embedding_min_shortlist, int(np.ceil(s.embedding_max_share * texts)))
        if len(best) <= room:
            return candidates, 0
        chosen = set(sorted(best, key=lambda d: (-best[d], d))[:room])
        return [c for c in candidates if c.doc in chosen], len(best) - room

    def _agrees(self, prompt: mathsig.Signature, item: mathsig.Signature) -> float | None:
        """The information of the pair's shared mathematics when it agrees, carries enough
        information and the answers do not differ; else None."""
        s = self.settings
        share = mathsig.agreement(prompt.math, item.math)
        if share is not None and share < s.numbers_agreement:
            return None
        if s.answer_veto and mathsig.answers_differ(prompt.answer, item.answer):
            return None
        info = self.rarity.numbers_info(prompt.math.keys() & item.math.keys())
        if prompt.answer and prompt.answer == item.answer:
            info += self.rarity.answer_info(prompt.answer)
        return info if info >= s.embedding_min_info else None

    def score(self, candidates: list[Candidate], prompt_texts: list[str],
              item_vectors: Callable[[list[int]], np.ndarray]) -> tuple[list[Hit], list[Hit], int]:
        """(hits, borderline pairs, prompts embedded); `item_vectors` maps item indices to rows."""
        if not candidates:
            return [], [], 0
        docs = sorted({c.doc for c in candidates})
        items = sorted({c.item for c in candidates})
        prompt_vec = encode([prompt_texts[d] for d in docs], self.settings)
        item_vec = item_vectors(items)
        p_row = {d: i for i, d in enumerate(docs)}
        i_row = {t: i for i, t in enumerate(items)}
        hits, reviews = [], []
        for c in candidates:
            cosine = float(prompt_vec[p_row[c.doc]] @ item_vec[i_row[c.item]])
            evidence = f"embedding cosine {cosine:.3f} (TF-IDF {c.lexical:.2f}); mathematics agrees"
            hit = Hit(c.doc, c.item, "embedding", round(cosine, 4), evidence)
            if cosine >= self.settings.embedding_threshold:
                hits.append(hit)
            elif cosine >= self.settings.embedding_borderline:
                reviews.append(hit)
        return hits, reviews, len(docs)
