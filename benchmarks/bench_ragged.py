"""The ragged layouts against the frameworks' own code, PyTorch then TensorFlow, in one run.

4,096 sequences of random lengths 1..512 with 256 float32 features. Targets
(ours / theirs <= 1.0): ``torch_impl.unpad`` vs ``x[mask]``,
``torch_impl.repad`` vs ``out[mask] = values``, ``torch_impl.pack_sequences``
vs ``pack_padded_sequence(enforce_sorted=False)``, and
``tf_impl.ragged_from_padded`` vs ``tf.RaggedTensor.from_tensor(lengths=)``.
The two halves are ``bench_ragged_torch.py`` and ``bench_ragged_tf.py`` (each
runs alone too); a framework that is not installed is skipped.

Run: ``python benchmarks/bench_ragged.py [--repeat R] [--batch B]``.
"""

from __future__ import annotations

import importlib
import importlib.util


def main() -> None:
    for framework, module in (("torch", "bench_ragged_torch"), ("tensorflow", "bench_ragged_tf")):
        if importlib.util.find_spec(framework) is None:
            print(f"{framework}: not installed, skipped")
            continue
        print(f"== {module} ==")
        importlib.import_module(module).main()
        print()


if __name__ == "__main__":
    main()
