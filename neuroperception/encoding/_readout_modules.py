"""The torch modules behind the deep readouts: Gaussian/low-rank spatial masks, cross-attention and
transformer-decoder layers."""

from __future__ import annotations

import math

import torch


def _grid(h: int, w: int, side: int) -> torch.Tensor:
    """Cell centres ``(h * w, 2)`` (y, x) in units of half the reference side, centred on the grid."""
    ys = (torch.arange(h, dtype=torch.float32) + 0.5 - h / 2) / (side / 2)
    xs = (torch.arange(w, dtype=torch.float32) + 0.5 - w / 2) / (side / 2)
    return torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1).reshape(-1, 2)


# ---------------------------------------------------------------------------------------- factorised
class _Factorized(torch.nn.Module):
    def __init__(self, shapes, n_vox, spatial, rank):
        super().__init__()
        self.spatial, self.shapes = spatial, shapes
        self.weights = torch.nn.ParameterList([torch.nn.Parameter(torch.randn(n_vox, c) / math.sqrt(c))
                                               for c, _, _ in shapes])
        self.bias = torch.nn.Parameter(torch.zeros(n_vox))
        if spatial == "gaussian":
            self.mu = torch.nn.Parameter(torch.rand(n_vox, 2) - 0.5)
            self.log_sigma = torch.nn.Parameter(torch.full((n_vox,), math.log(0.5)))
            for i, (_, h, w) in enumerate(shapes):
                self.register_buffer(f"grid{i}", _grid(h, w, max(h, w)))
        elif rank is None:
            self.masks = torch.nn.ParameterList([torch.nn.Parameter(torch.rand(n_vox, h * w) / (h * w))
                                                 for _, h, w in shapes])
        else:
            self.left = torch.nn.ParameterList([torch.nn.Parameter(torch.rand(n_vox, rank) / rank) for _ in shapes])
            self.right = torch.nn.ParameterList([torch.nn.Parameter(torch.rand(rank, h * w) / (h * w))
                                                 for _, h, w in shapes])

    def mask(self, i: int) -> torch.Tensor:
        if self.spatial == "gaussian":
            d2 = (getattr(self, f"grid{i}")[None] - self.mu[:, None]).square().sum(-1)
            g = torch.exp(-0.5 * d2 / torch.exp(2 * self.log_sigma)[:, None])
            return g / g.sum(1, keepdim=True).clamp_min(1e-12)
        if hasattr(self, "masks"):
            return self.masks[i]
        return self.left[i] @ self.right[i]

    def forward(self, xs):
        out = self.bias
        for i, x in enumerate(xs):
            pooled = torch.einsum("bch,vh->bvc", x.flatten(2), self.mask(i))
            out = out + (pooled * self.weights[i]).sum(-1)
        return out


def _sine(h: int, w: int, dim: int) -> torch.Tensor:
    """Fixed 2-D sinusoidal encodings ``(h * w, dim)``: half the channels for y, half for x."""
    pos = _grid(h, w, max(h, w)) * math.pi
    k = max(dim // 4, 1)
    freqs = 2.0 ** torch.arange(k, dtype=torch.float32)
    parts = [f(pos[:, a:a + 1] * freqs) for a in (0, 1) for f in (torch.sin, torch.cos)]
    enc = torch.cat(parts, 1)
    return torch.nn.functional.pad(enc, (0, max(dim - enc.shape[1], 0)))[:, :dim]


class _DecoderLayer(torch.nn.Module):
    """One pre-norm transformer-decoder layer over the query states ``h`` (DETR-style).

    Self-attention among the queries, cross-attention from the queries to the tokens, a feed-forward
    block, each with a residual. The learned query embeddings ``qpos`` are added to the queries and
    keys of both attentions. Without ``content`` every attention logit comes from ``qpos`` and the
    tokens' positional encodings alone (the values still carry the features), so the routing does
    not depend on the stimulus.
    """

    def __init__(self, dim: int, n_heads: int, content: bool, expansion: int = 2):
        super().__init__()
        self.content = content
        self.norm_self, self.norm_cross, self.norm_ff = (torch.nn.LayerNorm(dim) for _ in range(3))
        self.self_attn = torch.nn.MultiheadAttention(dim, n_heads, batch_first=True)
        self.cross = torch.nn.MultiheadAttention(dim, n_heads, batch_first=True)
        self.ff = torch.nn.Sequential(torch.nn.Linear(dim, expansion * dim), torch.nn.GELU(),
                                      torch.nn.Linear(expansion * dim, dim))

    def forward(self, h, qpos, tokens, keys, weights=False):
        qpos = qpos[None].expand(h.shape[0], -1, -1)
        x = self.norm_self(h)
        q = x + qpos if self.content else qpos
        h = h + self.self_attn(q, q, x, need_weights=False)[0]
        q = self.norm_cross(h) + qpos if self.content else qpos
        out, w = self.cross(q, keys, tokens, need_weights=weights, average_attn_weights=True)
        h = h + out
        return h + self.ff(self.norm_ff(h)), w


class _Attention(torch.nn.Module):
    """Tokens from the feature maps, learned queries, and either one cross-attention (``decoder=False``)
    or ``n_layers`` decoder layers. Without ``content`` the attention keys are the positional
    encodings alone."""

    def __init__(self, shapes, n_queries, voxel_query, dim, n_heads, positional, n_layers=1, decoder=False,
                 content=True):
        super().__init__()
        self.shapes, self.decoder, self.content = shapes, decoder, content
        self.proj = torch.nn.ModuleList([torch.nn.Linear(c, dim) for c, _, _ in shapes])
        self.pos = torch.nn.ParameterList()
        for i, (_, h, w) in enumerate(shapes):
            if positional == "learned":
                self.pos.append(torch.nn.Parameter(0.1 * torch.randn(h * w, dim)))
            else:
                enc = _sine(h, w, dim) if positional == "sine" else torch.zeros(h * w, dim)
                self.register_buffer(f"fixed{i}", enc)
        self.positional = positional
        self.norm = torch.nn.LayerNorm(dim)
        self.queries = torch.nn.Parameter(torch.randn(n_queries, dim))
        if decoder:
            self.layers = torch.nn.ModuleList([_DecoderLayer(dim, n_heads, content) for _ in range(n_layers)])
            self.out_norm = torch.nn.LayerNorm(dim)
        else:
            self.attn = torch.nn.MultiheadAttention(dim, n_heads, batch_first=True)
        if voxel_query is not None:
            self.register_buffer("voxel_query", torch.as_tensor(voxel_query, dtype=torch.long))

    def positions(self) -> torch.Tensor:
        """The positional encodings of all tokens ``(tokens, dim)``, layer after layer."""
        return torch.cat([self.pos[i] if self.positional == "learned" else getattr(self, f"fixed{i}")
                          for i in range(len(self.shapes))])

    def tokens(self, xs):
        parts = [self.proj[i](x.flatten(2).transpose(1, 2)) for i, x in enumerate(xs)]
        return self.norm(torch.cat(parts, 1) + self.positions())

    def routed(self, xs, weights=False):
        """Routed features ``(batch, query, dim)`` and, with ``weights``, the head-averaged cross-attention
        ``(batch, layer, query, token)`` of every layer (else None)."""
        t = self.tokens(xs)
        keys = t if self.content else self.positions()[None].expand(t.shape[0], -1, -1)
        q = self.queries[None].expand(t.shape[0], -1, -1)
        if not self.decoder:
            out, w = self.attn(q, keys, t, need_weights=weights, average_attn_weights=True)
            return out, (w[:, None] if weights else None)
        h, ws = q, []
        for layer in self.layers:
            h, w = layer(h, self.queries, t, keys, weights)
            ws.append(w)
        return self.out_norm(h), (torch.stack(ws, 1) if weights else None)


class _AttentionModel(torch.nn.Module):
    def __init__(self, core, n_vox, dim, n_queries, per_roi):
        super().__init__()
        self.core, self.per_roi = core, per_roi
        self.readout = torch.nn.Parameter(torch.randn(n_vox, dim) / math.sqrt(dim))
        self.bias = torch.nn.Parameter(torch.zeros(n_vox))
        self.mixing = None if per_roi else torch.nn.Parameter(0.1 * torch.randn(n_vox, n_queries))

    def voxel_mixing(self) -> torch.Tensor:
        if self.per_roi:
            return torch.nn.functional.one_hot(self.core.voxel_query, self.core.queries.shape[0]).float()
        return torch.softmax(self.mixing, 1)

    def forward(self, xs):
        routed, _ = self.core.routed(xs)
        per_query = torch.einsum("bqd,vd->bqv", routed, self.readout)
        return (per_query * self.voxel_mixing().T[None]).sum(1) + self.bias
