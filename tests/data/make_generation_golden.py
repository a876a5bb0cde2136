"""Record the engine's outputs before the one-loop refactor (commit cfdbc3a): tests/test_generation_golden.py
holds the new engine to them token for token."""
import json, sys
sys.path.insert(0, "tests")
import torch
torch.set_num_threads(1)
from safetensors.torch import save_model
from conftest import perturbed_model
from lanternlm.generate import Engine
from lanternlm.tokenizers import CharTokenizer

CHARS = "abcdefghijklmnop \n"
TOKENIZER = CharTokenizer(list(CHARS))
OPTIONS = dict(position="rope", n_kv_head=2)
model = perturbed_model(TOKENIZER.vocab_size, 16, 5, **OPTIONS)
with torch.no_grad():
    for p in model.parameters():
        p.add_(torch.randn_like(p) * 0.3)
save_model(model, "tests/data/golden-model.safetensors")
CASES = {
    "greedy": dict(prompt="abc", max_new_tokens=40, temperature=0),
    "sampled": dict(prompt="hello", max_new_tokens=40, temperature=0.9, seed=11),
    "sampled-filters": dict(prompt="pond", max_new_tokens=40, temperature=1.3, top_k=8, top_p=0.9, min_p=0.02, seed=5),
    "penalties": dict(prompt="abcabc", max_new_tokens=40, temperature=0.7, repetition_penalty=1.4,
                      presence_penalty=0.5, frequency_penalty=0.3, seed=3),
    "beam": dict(prompt="abc", max_new_tokens=20, num_beams=4, length_penalty=1.0),
    "beam-long": dict(prompt="hi", max_new_tokens=30, num_beams=3, length_penalty=0.5),
    "stop": dict(prompt="abc", max_new_tokens=60, temperature=0.8, seed=2, stop=["nh"]),
    "no-cache": dict(prompt="abc", max_new_tokens=30, temperature=0.8, seed=2, use_cache=False),
    "past-window": dict(prompt="abcdefgh", max_new_tokens=50, temperature=1.0, seed=9),
}
BATCH = dict(prompts=["a", "hello", "abcdefghij", "ponm"], max_new_tokens=25, temperature=0.8, seed=4)
out = {"chars": CHARS, "block_size": 16, "options": OPTIONS, "cases": {}}
engine = Engine(model, TOKENIZER)
for name, case in CASES.items():
    options = {k: v for k, v in case.items() if k != "prompt"}
    call = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    out["cases"][name] = {"prompt": case["prompt"], "options": options, "text": engine.generate(case["prompt"], **call)}
options = {k: v for k, v in BATCH.items() if k != "prompts"}
out["batch"] = {"prompts": BATCH["prompts"], "options": options, "texts": engine.generate_batch(BATCH["prompts"], **options)}
json.dump(out, open("tests/data/generation_golden.json", "w"), indent=1)
for n, c in out["cases"].items(): print(n, repr(c["text"]))
print(out["batch"]["texts"])
