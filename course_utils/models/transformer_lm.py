"""A small causal Transformer language model: the baseline recurrent models race against.

The layout is GPT-2's, at nanoGPT's "baby" scale: token and learned position embeddings,
``num_layers`` pre-norm blocks of causal self-attention
(``F.scaled_dot_product_attention`` with ``is_causal``) and a feed-forward layer, a final
LayerNorm and a head that shares the token embedding's weights.

It keeps the interface of the course's recurrent language models,
``forward(tokens, hidden) -> (logits, hidden)``, so lesson 06's ``generate`` samples from
it unchanged. Its ``hidden`` is the **key/value cache**: the keys and values of every
position so far, which each new token attends to. Unlike a recurrent state it grows with
the context, one row per token and layer. When the context reaches ``context`` tokens the
model cannot look further back (its positions end there), so the cache is rebuilt from
the last ``context // 2`` tokens, which the cache keeps for that purpose.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.models.building import constructor_arguments
from course_utils.models.language_model import check_token_batch


class KVCache(NamedTuple):
    """What a Transformer carries between calls: the tokens so far and each layer's keys and values.

    ``keys`` and ``values`` are ``[layers, batch, heads, time, head_dim]``; ``tokens`` is
    ``[batch, time]``. Its first dimension is the batch for ``tokens`` only, so it is not
    meant for ``fit``'s stateful chunks: train the Transformer on independent windows.
    """

    tokens: torch.Tensor
    keys: torch.Tensor
    values: torch.Tensor


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position ``t`` sees positions ``<= t`` only."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(
        self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        batch, length, dim = x.shape
        q, k, v = (
            part.view(batch, length, self.heads, dim // self.heads).transpose(1, 2)
            for part in self.qkv(x).chunk(3, dim=-1)
        )
        if past is not None:  # new queries attend to every cached position and to each other
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        offset = k.shape[2] - length
        mask = None
        if past is not None and length > 1:
            mask = torch.ones(length, k.shape[2], dtype=torch.bool, device=x.device).tril(offset)
        attended = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            is_causal=past is None and length > 1,
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.out(attended.transpose(1, 2).reshape(batch, length, dim)), (k, v)


class TransformerBlock(nn.Module):
    """``x + attention(norm(x))``, then ``x + MLP(norm(x))``."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(dim)
        self.attention = CausalSelfAttention(dim, heads, dropout)
        self.mlp_norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(dropout)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, past):
        attended, present = self.attention(self.attention_norm(x), past)
        x = x + self.dropout(attended)
        return x + self.mlp(self.mlp_norm(x)), present


def _gpt2_init(module: nn.Module) -> None:
    """GPT-2's initialisation: weights from N(0, 0.02), biases 0.

    PyTorch's default N(0, 1) embeddings, tied to the output layer, would start the model
    with logits of size ~sqrt(dim), a loss far above log(vocab), and a first phase of
    training spent only on shrinking them.
    """
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


class TransformerLanguageModel(nn.Module):
    """A GPT-style causal language model over ``context`` positions."""

    def __init__(
        self,
        vocab_size: int,
        dim: int = 256,
        num_layers: int = 4,
        heads: int = 4,
        context: int = 256,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be a multiple of heads ({heads}).")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        if context < 2:
            raise ValueError(f"context must be at least 2 positions, got {context}.")
        self.config = constructor_arguments()
        self.embedding = nn.Embedding(vocab_size, dim)
        self.position = nn.Embedding(context, dim)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(dim, heads, dropout) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, vocab_size, bias=False)
        self.fc.weight = self.embedding.weight  # tied input and output embeddings (GPT-2)
        self.apply(_gpt2_init)

    def forward(
        self, tokens: torch.Tensor, hidden: KVCache | None = None
    ) -> tuple[torch.Tensor, KVCache]:
        """Logits ``[batch, time, vocab]`` and the key/value cache that continues the text."""
        check_token_batch(tokens)
        context = self.config["context"]
        new = tokens.shape[1]
        if hidden is not None and hidden.tokens.shape[1] + new > context:
            # the positions run out: start again from the recent past, the new tokens included
            recent = torch.cat([hidden.tokens, tokens], dim=1)[:, -max(context // 2, new) :]
            logits, cache = self(recent)
            return logits[:, -new:], cache
        if hidden is None and tokens.shape[1] > context:
            raise ValueError(
                f"{tokens.shape[1]} tokens do not fit this model's {context} positions: "
                "train on windows of at most that length."
            )
        past_length = 0 if hidden is None else hidden.tokens.shape[1]
        positions = torch.arange(past_length, past_length + tokens.shape[1], device=tokens.device)
        x = self.dropout(self.embedding(tokens) + self.position(positions))
        keys, values = [], []
        for index, block in enumerate(self.blocks):
            past = None if hidden is None else (hidden.keys[index], hidden.values[index])
            x, (k, v) = block(x, past)
            keys.append(k)
            values.append(v)
        seen = tokens if hidden is None else torch.cat([hidden.tokens, tokens], dim=1)
        return self.fc(self.norm(x)), KVCache(seen, torch.stack(keys), torch.stack(values))
