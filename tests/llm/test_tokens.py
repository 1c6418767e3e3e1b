"""Exact token counts: every provider's count is checked against the model's own tokenizer (the full
packaged SmolLM2 model loaded by llama.cpp), on a corpus of code and prose."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from llama_cpp import Llama

from overseer.errors import ConfigError, SupervisorError
from overseer.llm.embedded import EmbeddedLLM, default_model_path
from overseer.llm.ollama import OllamaConfig, OllamaLLM
from overseer.llm.openai import OpenAIConfig, OpenAILLM
from overseer.llm.tokens import Estimate, GGUFVocab, fit_middle, ollama_blob, prompt_budget
from overseer.testing import ScriptedOllamaServer
from overseer.testing.llama_server import LlamaCppServer
from tests.conftest import SERVED_MODEL

REPO = Path(__file__).resolve().parents[2]
CORPUS = {
    "python": (REPO / "src/overseer/text.py").read_text(),
    "diff": "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,4 @@\n+def add(a, b):\n"
    "+\treturn a + b  # tabs, then spaces\n",
    "yaml": "supervisor:\n  name: ollama\n  options: {host: 'http://gpu-box:11434', num_ctx: 8192}\n",
    "prose": (REPO / "README.md").read_text()[:4000],
    "accents-cjk-emoji": "Déjà vu: naïve café, 東京での会議 🚀, Ünïcödé — “quotes” …\n",
    "whitespace": "   leading\n\n\n\ttabs\t\tand  double  spaces   \n",
    "empty": "",
}


@pytest.fixture(scope="module")
def own_tokenizer() -> Iterator[Llama]:
    """The model's own tokenizer: the full model, weights and all, as llama.cpp loads it to answer."""
    model = Llama(model_path=str(default_model_path()), n_ctx=256, verbose=False)
    yield model
    model.close()


def own_count(model: Llama, text: str) -> int:
    return len(model.tokenize(text.encode("utf-8"), add_bos=False, special=False))


@pytest.mark.parametrize("name", CORPUS)
def test_the_embedded_models_counts_are_its_own(name: str, own_tokenizer: Llama) -> None:
    counter = EmbeddedLLM().tokenizer()  # loaded vocab-only, apart from the weights
    assert counter.exact and "SmolLM2" in counter.label
    assert counter.count(CORPUS[name]) == own_count(own_tokenizer, CORPUS[name])


def test_the_counts_are_of_the_text_itself_not_an_estimate(own_tokenizer: Llama) -> None:
    vocab = GGUFVocab(default_model_path())
    for text in CORPUS.values():
        assert vocab.detokenize(vocab.tokenize(text)) == text  # nothing lost: the count is of this text
    counts = {name: vocab.count(text) for name, text in CORPUS.items()}
    estimates = {name: Estimate().count(text) for name, text in CORPUS.items()}
    assert counts != estimates
    assert counts["empty"] == 0


def test_the_servers_counts_are_the_models_own(llama_server: LlamaCppServer, own_tokenizer: Llama) -> None:
    llm = OpenAILLM(OpenAIConfig(base_url=llama_server.base_url, model=SERVED_MODEL))
    counter = llm.tokenizer()
    assert counter.exact and "/extras/tokenize" in counter.label
    assert {name: counter.count(text) for name, text in CORPUS.items()} == {
        name: own_count(own_tokenizer, text) for name, text in CORPUS.items()
    }


def ollama_models(root: Path, model_dir: str, tag: str) -> Path:
    """An Ollama models folder as `ollama pull` leaves it, holding the packaged GGUF as the model blob."""
    gguf = default_model_path()
    digest = hashlib.sha256(gguf.read_bytes()).hexdigest()
    (root / "blobs").mkdir(parents=True)
    (root / "blobs" / f"sha256-{digest}").symlink_to(gguf)
    manifest = root / "manifests" / model_dir / tag
    manifest.parent.mkdir(parents=True)
    layers = [
        {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "0" * 64, "size": 10},
        {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}", "size": gguf.stat().st_size},
    ]
    manifest.write_text(json.dumps({"schemaVersion": 2, "layers": layers}))
    return root


def test_ollamas_counts_come_from_the_blob_its_manifest_names(tmp_path: Path, own_tokenizer: Llama) -> None:
    models = ollama_models(tmp_path / "models", "registry.ollama.ai/library/smollm2", "135m")
    counter = OllamaLLM(OllamaConfig(model="smollm2:135m", models_dir=models)).tokenizer()
    assert counter.exact and "sha256-" in counter.label
    for text in CORPUS.values():
        assert counter.count(text) == own_count(own_tokenizer, text)


@pytest.mark.parametrize(
    ("model", "manifest"),
    [
        ("qwen2.5-coder:7b", "registry.ollama.ai/library/qwen2.5-coder/7b"),
        ("qwen2.5-coder", "registry.ollama.ai/library/qwen2.5-coder/latest"),
        ("someone/tuned:q4", "registry.ollama.ai/someone/tuned/q4"),
        ("hf.co/org/repo-GGUF:Q4_K_M", "hf.co/org/repo-GGUF/Q4_K_M"),
    ],
)
def test_ollama_model_names_map_to_its_manifest_layout(tmp_path: Path, model: str, manifest: str) -> None:
    dir_, _, tag = manifest.rpartition("/")
    models = ollama_models(tmp_path, dir_, tag)
    blob = ollama_blob(models, model)
    assert blob is not None and blob.resolve() == default_model_path().resolve()


def test_an_ollama_model_not_in_the_folder_gets_an_estimate(tmp_path: Path) -> None:
    models = ollama_models(tmp_path, "registry.ollama.ai/library/smollm2", "135m")
    assert ollama_blob(models, "smollm2:360m") is None
    assert not OllamaLLM(OllamaConfig(model="smollm2:360m", models_dir=models)).tokenizer().exact


@pytest.mark.parametrize("budget", [40, 200, 1000])
def test_a_long_prompt_is_cut_in_the_middle_to_the_budget(budget: int) -> None:
    vocab = GGUFVocab(default_model_path())
    text = "TASK: add add(a, b).\n" + CORPUS["python"] * 5 + "\nNow answer in JSON."
    fitted = fit_middle(text, budget, vocab)
    assert vocab.count(fitted) <= budget
    assert fitted.startswith("TASK: add add(a, b).") and fitted.endswith("Now answer in JSON.")
    assert "characters cut to fit" in fitted


def test_a_prompt_within_the_budget_is_left_alone_and_no_room_is_an_error() -> None:
    vocab = GGUFVocab(default_model_path())
    assert fit_middle(CORPUS["yaml"], 1000, vocab) == CORPUS["yaml"]
    with pytest.raises(SupervisorError, match="no room"):
        fit_middle(CORPUS["python"], 5, vocab)


def test_an_estimate_leaves_a_margin_an_exact_count_does_not() -> None:
    vocab = GGUFVocab(default_model_path())
    exact = prompt_budget(2048, 256, "You review code.", vocab)
    assert exact == 2048 - 256 - 64 - vocab.count("You review code.")
    assert prompt_budget(2048, 256, "You review code.", Estimate()) < exact


def test_ollama_prompts_are_cut_to_fit_num_ctx(tmp_path: Path) -> None:
    """Ollama would silently keep only the end of a prompt longer than num_ctx; overseer cuts its middle."""
    models = ollama_models(tmp_path / "models", "registry.ollama.ai/library/smollm2", "135m")
    user = "TASK: review this.\n" + CORPUS["python"] * 4 + "\nAnswer in JSON."
    with ScriptedOllamaServer([{"answer": "yes"}], models=["smollm2:135m"]) as server:
        config = OllamaConfig(host=server.url, model="smollm2:135m", models_dir=models, num_ctx=512, max_tokens=64)
        OllamaLLM(config).complete_json("You review.", user, {"type": "object"})
        [chat] = server.requests
    sent = chat["messages"][1]["content"]
    vocab = GGUFVocab(default_model_path())
    assert vocab.count(user) > 512 >= vocab.count(sent) + 64 + 64 + vocab.count("You review.")
    assert sent.startswith("TASK: review this.") and sent.endswith("Answer in JSON.")


@pytest.fixture(scope="module")
def tokenizer_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tokenizer.json, made here: no model's own file can be downloaded on these machines, so a
    small byte-level BPE is trained on the corpus with the same `tokenizers` library that reads it."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS.values(), trainer)
    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer.json"
    tokenizer.save(str(path))
    return path


@pytest.mark.parametrize("name", CORPUS)
def test_a_tokenizer_json_gives_exact_counts_when_the_server_cannot(
    name: str, tokenizer_json: Path, tmp_path: Path
) -> None:
    from tokenizers import Tokenizer

    own = Tokenizer.from_file(str(tokenizer_json))
    config = OllamaConfig(models_dir=tmp_path / "no-models-here", tokenizer_json=tokenizer_json)
    counter = OllamaLLM(config).tokenizer()
    assert counter.exact and counter.label == "exact (tokenizer.json through tokenizers)"
    assert counter.count(CORPUS[name]) == len(own.encode(CORPUS[name], add_special_tokens=False).ids)


def test_a_missing_or_bad_tokenizer_json_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{}")
    for path, error in ((tmp_path / "missing.json", "not found"), (tmp_path / "bad.json", "tokenizers can read")):
        counter = OllamaLLM(OllamaConfig(models_dir=tmp_path, tokenizer_json=path)).tokenizer()
        with pytest.raises(ConfigError, match=error):
            counter.count("def add(a, b): ...")
    assert not OllamaLLM(OllamaConfig(models_dir=tmp_path)).tokenizer().exact  # neither: an estimate
