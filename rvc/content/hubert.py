"""Content features: HuBERT-base / ContentVec through transformers' ``HubertModel`` plus the ``final_proj`` layer.

v1 features are the output of transformer layer 9 through ``final_proj`` (256-d); v2 features the output of
layer 12 (768-d). Both at 50 frames/s: ``T = (N - 400) // 320 + 1`` for N samples at 16 kHz.

Two file formats load:
- a Hugging Face folder (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``), as current RVC and
  its forks publish ``hubert_base/``;
- the classic fairseq checkpoint ``hubert_base.pt``, read without fairseq and without running pickled code: a
  restricted unpickler rebuilds the tensors and turns every other object (``cfg``, ``args``, ``task_state``…)
  into an inert stand-in. Only the tensors are used.

Batches give the features of one file at a time: the first convolution's group norm (statistics over time)
uses each item's own frames, and the transformer masks the padding.
"""

from __future__ import annotations

import collections
import json
import logging
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rvc.core.errors import EmbedderError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
LAYER = {"v1": 9, "v2": 12}


def frames_for(n_samples: int) -> int:
    """Feature frames HuBERT gives for ``n_samples`` at 16 kHz."""
    n = n_samples
    for k, s in ((10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2), (2, 2)):
        n = (n - k) // s + 1
    return max(n, 0)


MIN_SAMPLES = 400  # one feature frame


# --- the fairseq checkpoint ---------------------------------------------------------------------------------


class _Inert:
    """Stand-in for any class a checkpoint names that is not a tensor: records what pickle gives it, runs nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__["_args"] = args
        self.__dict__["_kwargs"] = kwargs

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_state"] = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.__dict__.setdefault("_items", {})[key] = value

    def append(self, item: Any) -> None:
        self.__dict__.setdefault("_list", []).append(item)

    def extend(self, items: Any) -> None:
        self.__dict__.setdefault("_list", []).extend(items)


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch", "Size"): torch.Size,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Rebuilds tensors (torch's own rebuild functions, as ``weights_only`` allows) and maps every other global
    to a fresh inert class, so no code named by the file is imported or run."""

    _stand_ins: dict[tuple[str, str], type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in (
            "float32",
            "float16",
            "bfloat16",
            "float64",
            "int64",
            "int32",
            "uint8",
            "bool",
        ):
            return getattr(torch, name)
        key = (module, name)
        if key not in self._stand_ins:
            self._stand_ins[key] = type(name, (_Inert,), {"__module__": f"inert:{module}"})
        return self._stand_ins[key]


class _RestrictedPickleModule:
    """What ``torch.load(pickle_module=...)`` needs from a pickle module."""

    Unpickler = _RestrictedUnpickler
    __name__ = "rvc_restricted_pickle"

    @staticmethod
    def load(f: Any, **kw: Any) -> Any:
        return _RestrictedUnpickler(f, **kw).load()


def _find_setting(obj: Any, key: str, depth: int = 0) -> Any:
    """Looks for ``key`` in the plain data and inert stand-ins of a checkpoint's ``cfg``/``args`` (read only)."""
    if depth > 12:
        return None
    if isinstance(obj, dict):
        if key in obj:
            value = obj[key]
            return value.__dict__.get("_state", {}).get("_val", value) if isinstance(value, _Inert) else value
        children: list[Any] = list(obj.values())
    elif isinstance(obj, _Inert):
        children = [obj.__dict__.get(k) for k in ("_state", "_items", "_kwargs")]
        children += list(obj.__dict__.get("_args", ())) + list(obj.__dict__.get("_list", ()))
    elif isinstance(obj, (list, tuple)):
        children = list(obj)
    else:
        return None
    for child in children:
        found = _find_setting(child, key, depth + 1)
        if found is not None:
            return found
    return None


def load_fairseq_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The ``model`` state dict of a fairseq HuBERT checkpoint and its other entries (as inert data); no code run."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_RestrictedPickleModule)
    except Exception as e:
        raise EmbedderError(f"{path} is not a readable fairseq HuBERT checkpoint ({type(e).__name__}: {e})") from e
    state = ckpt.get("model") if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise EmbedderError(f"{path} has no 'model' state dict of tensors: is it a HuBERT checkpoint?")
    return state, {k: v for k, v in ckpt.items() if k != "model"}


def _config_from_fairseq(state: dict[str, torch.Tensor], extra: dict[str, Any], path: Path) -> Any:
    """A HubertConfig with the shapes the tensors imply (and the head count the checkpoint's cfg states)."""
    from transformers import HubertConfig

    n_layers = 1 + max((int(k.split(".")[2]) for k in state if k.startswith("encoder.layers.")), default=-1)
    if n_layers <= 0:
        raise EmbedderError(f"{path} holds no HuBERT encoder layers")
    convs = sorted(
        (int(k.split(".")[2]), v.shape)
        for k, v in state.items()
        if k.startswith("feature_extractor.conv_layers.") and k.endswith(".conv.weight")
    )
    hidden = int(state["encoder.layer_norm.weight"].shape[0])
    pos = state["encoder.pos_conv_embed.conv.parametrizations.weight.original1"].shape
    heads = _find_setting(extra, "encoder_attention_heads")
    default_strides = (5, 2, 2, 2, 2, 2, 2)
    config = HubertConfig(
        num_hidden_layers=n_layers,
        hidden_size=hidden,
        intermediate_size=int(state["encoder.layers.0.feed_forward.intermediate_dense.weight"].shape[0]),
        num_attention_heads=int(heads) if heads else (12 if hidden == 768 else max(1, hidden // 64)),
        conv_dim=tuple(int(s[0]) for _, s in convs),
        conv_kernel=tuple(int(s[2]) for _, s in convs),
        conv_stride=default_strides[: len(convs)],
        num_conv_pos_embeddings=int(pos[2]),
        num_conv_pos_embedding_groups=hidden // int(pos[1]),
    )
    if "final_proj.weight" in state:
        config.classifier_proj_size = int(state["final_proj.weight"].shape[0])
    return config


# fairseq HuBERT name -> transformers HubertModel name (plus our final_proj)
def _map_fairseq_key(key: str) -> str | None:
    rules = [
        ("feature_extractor.conv_layers.0.2.", "feature_extractor.conv_layers.0.layer_norm."),
        ("post_extract_proj.", "feature_projection.projection."),
        ("encoder.pos_conv.0.weight_g", "encoder.pos_conv_embed.conv.parametrizations.weight.original0"),
        ("encoder.pos_conv.0.weight_v", "encoder.pos_conv_embed.conv.parametrizations.weight.original1"),
        ("encoder.pos_conv.0.bias", "encoder.pos_conv_embed.conv.bias"),
        ("layer_norm.", "feature_projection.layer_norm."),
        ("mask_emb", "masked_spec_embed"),
        ("final_proj.", "final_proj."),
        ("encoder.layer_norm.", "encoder.layer_norm."),
    ]
    if key.startswith("feature_extractor.conv_layers.") and ".0.weight" in key and key.count(".") == 4:
        i = key.split(".")[2]
        return f"feature_extractor.conv_layers.{i}.conv.weight"
    if key.startswith("encoder.layers."):
        parts = key.split(".")
        i, rest = parts[2], ".".join(parts[3:])
        for old, new in (
            ("self_attn_layer_norm.", "layer_norm."),
            ("self_attn.", "attention."),
            ("fc1.", "feed_forward.intermediate_dense."),
            ("fc2.", "feed_forward.output_dense."),
            ("final_layer_norm.", "final_layer_norm."),
        ):
            if rest.startswith(old):
                return f"encoder.layers.{i}.{new}{rest[len(old) :]}"
        return None
    for old, new in rules:
        if key == old or (old.endswith(".") and key.startswith(old)):
            return new + key[len(old) :] if old.endswith(".") else new
    return None  # label_embs_concat and other training-only entries


def fairseq_to_hf(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        new = _map_fairseq_key(k)
        if new is not None:
            out[new] = v
    return out


# --- the model ----------------------------------------------------------------------------------------------


def _build(config: Any) -> Any:  # a HubertModel with final_proj (transformers types it loosely)
    from transformers import HubertModel

    class HubertWithFinalProj(HubertModel):
        def __init__(self, cfg: Any) -> None:
            super().__init__(cfg)
            self.final_proj = nn.Linear(cfg.hidden_size, getattr(cfg, "classifier_proj_size", 256))

    return HubertWithFinalProj(config)


class Embedder:
    """A loaded content encoder. ``features(waves, version)`` gives one ``[T, 256|768]`` float32 array per wave."""

    def __init__(
        self, model: nn.Module, has_final_proj: bool, normalize: bool, source: Path, device: str = "cpu"
    ) -> None:
        self.model: Any = model.eval().to(device)  # a transformers HubertModel: its submodules are typed loosely
        self.has_final_proj = has_final_proj
        self.normalize = normalize
        self.source = source
        self.device = torch.device(device)
        self.dtype = torch.float32

    @property
    def num_layers(self) -> int:
        return self.model.config.num_hidden_layers

    def _check(self, version: str) -> int:
        layer = LAYER[version]
        if layer > self.num_layers:
            raise EmbedderError(f"{self.source} has {self.num_layers} layers; {version} features need layer {layer}")
        if version == "v1" and not self.has_final_proj:
            raise EmbedderError(f"{self.source} has no final_proj layer, which v1 (256-d) features need")
        return layer

    @torch.inference_mode()
    def features(self, waves: list[np.ndarray], version: str) -> list[np.ndarray]:
        """Features of each 16 kHz mono wave (each at least 400 samples), computed as one padded batch."""
        layer = self._check(version)
        m = self.model
        lengths = [len(w) for w in waves]
        batch = torch.zeros(len(waves), max(lengths), dtype=torch.float32)
        for i, w in enumerate(waves):
            x = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
            if self.normalize:
                x = (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-7)
            batch[i, : len(w)] = x
        x = batch.to(self.device, self.dtype)[:, None]
        # Convolutional front end. Valid output frames of an unpadded convolution depend on valid input frames
        # only, so padding needs care in one place: layer 0's group norm, which takes each item's statistics.
        padded = min(lengths) != max(lengths)
        conv_lengths = torch.tensor(lengths, device=self.device)
        for j, conv_layer in enumerate(m.feature_extractor.conv_layers):
            x = conv_layer.conv(x)
            k, s = conv_layer.conv.kernel_size[0], conv_layer.conv.stride[0]
            conv_lengths = (conv_lengths - k) // s + 1
            if j == 0 and isinstance(getattr(conv_layer, "layer_norm", None), nn.GroupNorm) and padded:
                mask = (torch.arange(x.shape[-1], device=self.device)[None, :] < conv_lengths[:, None]).to(x.dtype)
                x = _masked_group_norm(x, mask[:, None], conv_layer.layer_norm)
            elif hasattr(conv_layer, "layer_norm"):
                norm = conv_layer.layer_norm
                x = norm(x) if isinstance(norm, nn.GroupNorm) else norm(x.transpose(-2, -1)).transpose(-2, -1)
            x = conv_layer.activation(x)
        hidden = m.feature_projection(x.transpose(1, 2))
        frame_mask = torch.arange(hidden.shape[1], device=self.device)[None, :] < conv_lengths[:, None]
        hidden = self._encode(hidden, frame_mask, layer)
        if version == "v1":
            hidden = m.final_proj(hidden)
        hidden = hidden.float().cpu()
        return [hidden[i, : int(n)].numpy().copy() for i, n in enumerate(conv_lengths.tolist())]

    def _encode(self, hidden: torch.Tensor, frame_mask: torch.Tensor, layer: int) -> torch.Tensor:
        from transformers.masking_utils import create_bidirectional_mask

        enc = self.model.encoder
        if not bool(frame_mask.all()):
            hidden = hidden.masked_fill(~frame_mask[..., None], 0.0)
        hidden = hidden + enc.pos_conv_embed(hidden)
        hidden = enc.layer_norm(hidden)
        attn = None
        if not bool(frame_mask.all()):
            attn = create_bidirectional_mask(config=self.model.config, inputs_embeds=hidden, attention_mask=frame_mask)
        for block in enc.layers[:layer]:
            hidden = block(hidden, attention_mask=attn)
        return hidden


def _masked_group_norm(x: torch.Tensor, mask: torch.Tensor, norm: nn.GroupNorm) -> torch.Tensor:
    """GroupNorm with one group per channel ([B, C, T]), statistics over the valid frames of each item only."""
    n = mask.sum(-1, keepdim=True).clamp(min=1)
    mean = (x * mask).sum(-1, keepdim=True) / n
    var = (((x - mean) * mask) ** 2).sum(-1, keepdim=True) / n
    y = (x - mean) / torch.sqrt(var + norm.eps)
    return y * norm.weight[None, :, None] + norm.bias[None, :, None]


def load_embedder(path: Path, device: str = "cpu") -> Embedder:
    """Loads a HuBERT/ContentVec embedder from a Hugging Face folder or a fairseq ``.pt`` checkpoint.

    Raises:
        EmbedderError: missing, unreadable, or not a HuBERT-base-shaped model; the message names the file.
    """
    from transformers import HubertConfig

    path = Path(path)
    if not path.exists():
        raise EmbedderError(f"embedder not found: {path}")
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise EmbedderError(f"{path} is a folder without config.json: not a Hugging Face model folder")
        try:
            config = HubertConfig.from_pretrained(path, local_files_only=True)
            state = _read_hf_weights(path)
        except (OSError, ValueError) as e:
            raise EmbedderError(f"cannot read the embedder folder {path}: {e}") from e
        normalize = _hf_normalize(path)
    else:
        raw, extra = load_fairseq_checkpoint(path)
        state = fairseq_to_hf(raw)
        try:
            config = _config_from_fairseq(state, extra, path)
        except KeyError as e:
            raise EmbedderError(f"{path} lacks the HuBERT weight {e}: not a HuBERT-base model?") from e
        normalize = bool(_find_setting(extra, "normalize") or False)  # false for hubert_base
    with torch.device("meta"):  # no random init: the weights are assigned below (half the memory, faster)
        model = _build(config)
    has_final_proj = "final_proj.weight" in state
    expected = set(model.state_dict())
    if not has_final_proj:
        expected -= {"final_proj.weight", "final_proj.bias"}
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - set(model.state_dict()))
    if missing:
        raise EmbedderError(
            f"{path} lacks {len(missing)} HuBERT weights (first: {missing[0]}): not a HuBERT-base model?"
        )
    if unexpected:
        logger.info("ignoring %d extra entries in %s (first: %s)", len(unexpected), path, unexpected[0])
    try:
        model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=has_final_proj, assign=True)
    except RuntimeError as e:
        raise EmbedderError(f"{path} does not fit the HuBERT architecture its config describes: {e}") from e
    if not has_final_proj:  # unused (v1 is refused without it), but must not stay on the meta device
        model.final_proj = nn.Linear(model.final_proj.in_features, model.final_proj.out_features)
    return Embedder(model, has_final_proj, normalize, path, device)


def _read_hf_weights(folder: Path) -> dict[str, torch.Tensor]:
    st = folder / "model.safetensors"
    if st.is_file():
        from safetensors.torch import load_file

        state = load_file(str(st))
    elif (folder / "pytorch_model.bin").is_file():
        state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    else:
        raise EmbedderError(f"{folder} has neither model.safetensors nor pytorch_model.bin")
    # older transformers saved the positional conv's weight norm as weight_g/weight_v
    renames = {
        "encoder.pos_conv_embed.conv.weight_g": "encoder.pos_conv_embed.conv.parametrizations.weight.original0",
        "encoder.pos_conv_embed.conv.weight_v": "encoder.pos_conv_embed.conv.parametrizations.weight.original1",
    }
    prefix = "hubert." if any(k.startswith("hubert.") for k in state) else ""
    return {renames.get(k[len(prefix) :], k[len(prefix) :]): v for k, v in state.items()}


def _hf_normalize(folder: Path) -> bool:
    pre = folder / "preprocessor_config.json"
    if pre.is_file():
        try:
            return bool(json.loads(pre.read_text()).get("do_normalize", False))
        except ValueError:
            return False
    return False
