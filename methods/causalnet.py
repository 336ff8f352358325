"""CausalNet: causal motion-position learning and causal attention over four facial-region maps.

Zhang, Z., Tang, W., Chen, H. "Rethinking Key-frame-based Micro-expression Recognition: A Robust and
Accurate Framework Against Key-frame Errors." ICCV 2025, 12274-12283 (arXiv 2508.06640).
Code (MIT, built on HTNet's): https://github.com/tony19980810/CausalNet (`Models.py`, `main_train.py`,
`main_train_for_parameter_tuning.py`).

The input is `causalnet-regions` (4, 3, 28, 28): the onset-to-apex flow, the apex-to-offset flow and the
two direction maps of the CausalNet release, each cut into HTNet's four windows around one fixed template.
Two HTNet hierarchies reduce each map to one vector of dim * 2^(H-1) values: one hierarchy (`layers`)
shared by the two flows, the other (`layers1`) by the two direction maps. Each vector is read as four
tokens of width w (the 2x2 positions of the published reshape; w = dim * 2^(H-1) / 4, 256 in the paper).
A cross transformer (CMPLM) lets the two direction maps' tokens attend to each other, each position
only to itself and its row/column neighbours (the diagonal pair is masked and offset by -(j+1) * gamma);
its depth is the last block repeat, as in the published code (which reuses its loop variable). The
direction tokens are added to their flows' tokens, and the causal attention block (CAB: neighbour
attention among positions, attention from the apex-to-offset tokens to the onset-to-apex ones, and
causal relation mining between the forward and backward passes) gives 12 tokens, which a two-layer
linear head (no non-linearity between its layers) classifies.

Module names follow the published implementation so that its state dicts load unchanged, and its
arithmetic is kept: the cross attention scales by w^-0.5 (not per head) and the CAB by (w/8)^-0.5;
masked scores are multiplied by the mask and offset before the softmax (not set to -inf) and masked
again after it; the cross transformer's contexts are not normalised, and the second direction map's
update reads the first's already updated tokens; the attention masks are state-dict buffers. The
published code fixes w at 256, the heads of the cross attention and CAB at 8 and the head at
1536*2 -> 2048 -> classes; here w follows dim and the head is 12w -> 8w -> classes, the same network at
dim 256 (logit parity with the published implementation, tests/test_causalnet.py) and the same
architecture at a small width.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import torch
from einops import rearrange
from torch import nn

from mebench.method import MethodInfo
from mebench.params import BatchSize, Epochs, NonNegativeFloat, PositiveInt

from .htnet import HTNetMethod, hierarchy, patch_embedding, run_hierarchy

CROSS_HEADS = 8  # heads of the cross attention and the CAB, fixed in the published code
POSITIONS = ((0, 0), (0, 1), (1, 0), (1, 1))  # the four tokens' places on the 2x2 grid


def token_mlp(width: int, mlp_mult: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, width * mlp_mult), nn.GELU(), nn.Dropout(dropout),
                         nn.Linear(width * mlp_mult, width), nn.Dropout(dropout))


def split_heads(*tensors: torch.Tensor, heads: int) -> list[torch.Tensor]:
    return [rearrange(t, "b n (h d) -> b h n d", h=heads) for t in tensors]


def merge_heads(t: torch.Tensor) -> torch.Tensor:
    return rearrange(t, "b h n d -> b n (h d)")


class NeighbourAttentionBase(nn.Module):
    """The weights and masks of attention among the four positions, each to itself and its row/column neighbours
    (the published AbsolutePositionalCrossAttention), applied by `attend`. Its two modules differ in what `forward`
    takes and returns, so neither overrides the other's."""

    M_mask: torch.Tensor  # buffers (register_buffer)
    P_matrix: torch.Tensor

    def __init__(self, width: int, heads: int, dropout: float, gamma: float, scale: float):
        super().__init__()
        self.heads, self.scale = heads, scale
        near = [[abs(a[0] - b[0]) + abs(a[1] - b[1]) <= 1 for b in POSITIONS] for a in POSITIONS]
        self.register_buffer("M_mask", torch.tensor(near, dtype=torch.float32))
        # Python floats, as the published loop computes them, then stored as float32
        self.register_buffer("P_matrix", torch.tensor([[0.0 if near[i][j] else -(j + 1) * gamma for j in range(4)]
                                                       for i in range(4)], dtype=torch.float32))
        self.to_q = nn.Linear(width, width)
        self.to_kv = nn.Linear(width, width * 2)
        self.to_out = nn.Sequential(nn.Linear(width, width), nn.Dropout(dropout))

    def attend(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Queries from `x`, keys and values from `context`."""
        q, k, v = split_heads(self.to_q(x), *self.to_kv(context).chunk(2, dim=-1), heads=self.heads)
        scores = torch.einsum("bhid,bhjd->bhij", q, k) * self.scale * self.M_mask + self.P_matrix
        attn = scores.softmax(dim=-1) * self.M_mask
        return self.to_out(merge_heads(torch.einsum("bhij,bhjd->bhid", attn, v)))


class NeighbourAttention(NeighbourAttentionBase):
    """Neighbour attention from the tokens `x` to the tokens `context`."""

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.attend(x, context)


class CrossTransformer(nn.Module):
    """CMPLM: the two direction maps' tokens attend to each other, layer by layer."""

    def __init__(self, width: int, depth: int, heads: int, mlp_mult: int, gamma: float, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList([nn.LayerNorm(width), NeighbourAttention(width, heads, dropout, gamma, width**-0.5),
                           token_mlp(width, mlp_mult, dropout)])
            for _ in range(depth))

    def forward(self, a: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for norm, attn, ff in cast(Iterable[nn.ModuleList], self.layers):  # torch types the items as Module
            a = a + attn(norm(a), c)
            c = c + attn(norm(c), a)
            a = ff(a) + a
            c = ff(c) + c
        return a, c


class SpatialTemporalCausalAttention(NeighbourAttentionBase):
    """Neighbour attention within each phase (`to_*`), then from the apex-to-offset tokens to the
    onset-to-apex ones (`temp_*`: each position attends to its own two phases)."""

    def __init__(self, width: int, heads: int, dropout: float, gamma: float):
        super().__init__(width, heads, dropout, gamma, (width // heads) ** -0.5)
        self.temp_to_q = nn.Linear(width, width)
        self.temp_to_kv = nn.Linear(width, width * 2)
        self.temp_to_out = nn.Sequential(nn.Linear(width, width), nn.Dropout(dropout))

    def temporal(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        k, v = self.temp_to_kv(first).chunk(2, dim=-1)
        k_self, v_self = self.temp_to_kv(second).chunk(2, dim=-1)
        q, k, v, k_self, v_self = split_heads(self.temp_to_q(second), k, v, k_self, v_self, heads=self.heads)
        keys, values = torch.stack([k, k_self], dim=3), torch.stack([v, v_self], dim=3)
        weights = (torch.einsum("bhnd,bhnkd->bhnk", q, keys) * self.scale).softmax(dim=-1)
        return self.temp_to_out(merge_heads(torch.einsum("bhnk,bhnkd->bhnd", weights, values)))

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        first = self.attend(first, first) + first
        second = self.attend(second, second) + second
        return first, self.temporal(first, second) + second


class CausalRelationMining(nn.Module):
    """Attention from the forward pass's tokens to the backward pass's, over their sum, plus both."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.scale = heads, (width // heads) ** -0.5
        self.to_q = nn.Linear(width, width)
        self.to_k = nn.Linear(width, width)
        self.to_v = nn.Linear(width, width)
        self.to_out = nn.Sequential(nn.Linear(width, width), nn.Dropout(dropout))

    def forward(self, forward_tokens: torch.Tensor, backward_tokens: torch.Tensor) -> torch.Tensor:
        q, k, v = split_heads(self.to_q(forward_tokens), self.to_k(backward_tokens),
                              self.to_v(backward_tokens + forward_tokens), heads=self.heads)
        attn = (torch.einsum("bhid,bhjd->bhij", q, k) * self.scale).softmax(dim=-1)
        out = merge_heads(torch.einsum("bhij,bhjd->bhid", attn, v))
        return self.to_out(out + forward_tokens + backward_tokens)


class CausalAttentionBlock(nn.Module):
    """CAB: the (onset-apex, apex-offset) tokens in both orders through the same attention and MLP, then
    the relation between the two orders' second outputs: 12 tokens (relation, forward first, backward first)."""

    def __init__(self, width: int, depth: int, heads: int, mlp_mult: int, gamma: float, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList([nn.LayerNorm(width), SpatialTemporalCausalAttention(width, heads, dropout, gamma),
                           token_mlp(width, mlp_mult, dropout), CausalRelationMining(width, heads, dropout)])
            for _ in range(depth))

    def forward(self, onset_apex: torch.Tensor, apex_offset: torch.Tensor) -> torch.Tensor:
        passes = [[onset_apex, apex_offset], [apex_offset, onset_apex]]  # forward, backward
        for norm, attn, ff, crm in cast(Iterable[nn.ModuleList], self.layers):  # items typed as Module
            for tokens in passes:
                tokens[:] = attn(norm(tokens[0]), norm(tokens[1]))
                tokens[:] = [ff(t) + t for t in tokens]
            relation = crm(passes[0][1], passes[1][1])
        return torch.cat([relation, passes[0][0], passes[1][0]], dim=1).flatten(1)


class CausalNet(nn.Module):
    def __init__(self, *, image_size: int, patch_size: int, num_classes: int, dim: int, heads: int,
                 num_hierarchies: int, block_repeats: tuple[int, ...], gamma: float, mlp_mult: int = 4,
                 channels: int = 3, dropout: float = 0.0):
        super().__init__()
        if min(block_repeats, default=0) < 1:
            raise ValueError(f"block_repeats {block_repeats}: every level needs at least one block")
        side = image_size // patch_size
        for _ in range(num_hierarchies - 1):
            side = (side - 1) // 2 + 1  # each aggregation's max-pool (3, stride 2, padding 1)
        if side != 1:
            raise ValueError(f"image_size {image_size}, patch_size {patch_size} and {num_hierarchies} hierarchies leave a "
                             f"{side}x{side} map; the published network reads a 1x1 map as its 2x2 tokens")
        self.width = dim * 2 ** (num_hierarchies - 1) // 4
        if dim * 2 ** (num_hierarchies - 1) % 4 or self.width % CROSS_HEADS:
            raise ValueError(f"dim {dim} with {num_hierarchies} hierarchies gives tokens of width "
                             f"{dim * 2 ** (num_hierarchies - 1) / 4:g}; it must be a multiple of {CROSS_HEADS}")
        trunk: dict[str, Any] = dict(image_size=image_size, patch_size=patch_size, dim=dim, heads=heads,
                                     num_hierarchies=num_hierarchies, block_repeats=tuple(block_repeats),
                                     mlp_mult=mlp_mult, dropout=dropout)
        self.to_patch_embedding = patch_embedding(channels, patch_size, dim)  # both optical flows
        self.to_patch_embedding1 = patch_embedding(channels, patch_size, dim)  # both direction maps
        self.layers = hierarchy(**trunk)
        self.layers1 = hierarchy(**trunk)
        self.CrossAttention = CrossTransformer(self.width, block_repeats[-1], CROSS_HEADS, mlp_mult, gamma, dropout)
        self.cab = CausalAttentionBlock(self.width, 1, CROSS_HEADS, mlp_mult, gamma, dropout)
        self.mlp_head = nn.Sequential(nn.Linear(12 * self.width, 8 * self.width), nn.Linear(8 * self.width, num_classes))

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 4w, 1, 1) -> (B, 4, w): value c * 4 + n is channel c of token n (the published reshape)."""
        return x.reshape(x.shape[0], self.width, len(POSITIONS)).transpose(1, 2)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        n = img.shape[0]
        # each pair of maps goes through its shared hierarchy as one batch (every operation is per sample)
        flows = self.tokens(run_hierarchy(self.to_patch_embedding(img[:, :2].flatten(0, 1)), self.layers))
        directions = self.tokens(run_hierarchy(self.to_patch_embedding1(img[:, 2:].flatten(0, 1)), self.layers1))
        flows, directions = flows.unflatten(0, (n, 2)), directions.unflatten(0, (n, 2))
        onset_apex, apex_offset = self.CrossAttention(directions[:, 0], directions[:, 1])
        return self.mlp_head(self.cab(flows[:, 0] + onset_apex, flows[:, 1] + apex_offset))


# The grid of main_train_for_parameter_tuning.py: block repeats (3|2, 3|2, 7|8|9|10) without the (2, 2, *)
# ones the script skips, times gamma (0.3|0.4|0.5): 36 configurations.
PUBLISHED_BLOCK_REPEATS = tuple((a, b, c) for a in (3, 2) for b in (3, 2) for c in (7, 8, 9, 10) if (a, b) != (2, 2))
PUBLISHED_GAMMAS = (0.3, 0.4, 0.5)

NOTES = {
    "published selection": (
        "per test subject, the epoch with the best accuracy on that subject, a later epoch replacing it only when "
        "strictly better, and the subject's training stopped at the first epoch where it reaches 100% (main_train.py): "
        "model selection on test data. Reproduced as --epoch-selection oracle-stop (leaky, marked †), read off the "
        "one training's per-epoch record: mebench seeds each fold on its own, so the stop only cuts a fold short "
        "and the first best epoch of the full record is the epoch the stopped training keeps. (In the published "
        "script one seed, 2025, is set before the first subject and every DataLoader pass draws from the global "
        "generator, so the epoch where a subject stops also changes the initialisation of every later subject.)"),
    "published tuning": (
        "the published configuration was chosen by a grid search over block_repeats and gamma (search space "
        "below, 36 configurations), each scored by the composite UF1 of its per-subject best epochs, i.e. on the "
        "test subjects (main_train_for_parameter_tuning.py): a second selection on test data. Published result "
        "(repository README): composite UF1 0.8976, UAR 0.9020; CASME II 0.9811/0.9858, SMIC 0.8390/0.8452, "
        "SAMM 0.8780/0.8582"),
    "differences from the published code": (
        "(1) the width of the cross attention and the CAB (256 in the published code) and the head's 3072 -> 2048 "
        "layer follow dim (w = dim * 2^(H-1) / 4, head 12w -> 8w): identical at dim 256. (2) Each fold is seeded on its own (the published script seeds once for "
        "all 68 subjects in turn). (3) Under oracle-stop a subject whose accuracy is 0 at every epoch keeps epoch 1's "
        "predictions; the published code keeps none, so such a subject's samples drop out of its score. (4) The "
        "training samples come in the sample table's order, the published DataLoader's in its per-subject "
        "folders' order; at batch 1024 a fold's training set (at most 441 samples) is one batch, so only "
        "floating-point sums can differ"),
}


class CausalNetMethod(HTNetMethod):
    """CausalNet with HTNet's parameters (its hierarchies are HTNet's) and gamma, the attention masks' penalty."""

    info = MethodInfo(
        name="causalnet", display_name="CausalNet", input="causalnet-regions", tags=("causalnet", "transformer"),
        summary="CausalNet (Zhang et al., ICCV 2025): causal attention over onset-apex and apex-offset flow and direction "
        "maps (causalnet-release only)",
        citation="Zhang, Z., Tang, W., Chen, H. Rethinking Key-frame-based Micro-expression Recognition: A Robust and "
        "Accurate Framework Against Key-frame Errors. ICCV 2025, 12274-12283.",
        code_url="https://github.com/tony19980810/CausalNet",
        presets={
            # main_train.py: HTNet's paper width (dim 256, heads 3, lr 5e-5, Adam, unshuffled batches) with block
            # repeats (3, 3, 9), gamma 0.5, batch 256*4 and 200 epochs
            "paper": {**HTNetMethod.info.presets["paper"], "block_repeats": (3, 3, 9), "gamma": 0.5, "epochs": 200,
                      "batch_size": 1024},
            # cheap, labelled [quick]: the same architecture at dim 16, one block per level (not the published model)
            "quick": {**HTNetMethod.info.presets["quick"], "dim": 16, "block_repeats": (1, 1, 1), "gamma": 0.5,
                      "epochs": 30},
        },
        search_space={"block_repeats": PUBLISHED_BLOCK_REPEATS, "gamma": PUBLISHED_GAMMAS},
        notes=NOTES,
    )

    block_repeats: tuple[int, ...] = (3, 3, 9)
    gamma: NonNegativeFloat = 0.5
    mlp_mult: PositiveInt = 4  # HTNet's, re-declared so that gamma is listed before it (mebench.params.Parameterised)
    epochs: Epochs = 200
    batch_size: BatchSize = 1024

    def build_network(self) -> nn.Module:
        return CausalNet(image_size=self.image_size, patch_size=self.patch_size, num_classes=self.num_classes,
                         dim=self.dim, heads=self.heads, num_hierarchies=self.num_hierarchies,
                         block_repeats=tuple(self.block_repeats), gamma=self.gamma, mlp_mult=self.mlp_mult,
                         dropout=self.dropout)
