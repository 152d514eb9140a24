"""A tiny causal LM and tokenizer built offline, for tests that train, evaluate or tokenize for real.

``build_tiny_model(folder)`` writes a LlamaForCausalLM (hidden 64, 2 layers, 4 heads) and a byte-level
BPE tokenizer trained on the fly with ``tokenizers`` (about 1,000 tokens), wrapped as a
``PreTrainedTokenizerFast`` with bos/eos/pad tokens and a ChatML chat template whose assistant content
sits inside ``{% generation %}`` … ``{% endgeneration %}`` (so TRL's ``assistant_only_loss`` works; the
end-of-turn token is inside the markers, so the model learns to stop). Both load offline with
``AutoTokenizer.from_pretrained(path)`` / ``AutoModelForCausalLM.from_pretrained(path)``.

``tiny_model_path()`` builds it once per process into a temporary folder and returns that path (tests
must not write into it: copy it first if a test needs to change it).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from pathlib import Path

BOS = "<|begin_of_text|>"
EOS = "<|im_end|>"  # end of turn = end of sequence: generation stops after the assistant's turn
PAD = "<|pad|>"
IM_START = "<|im_start|>"
SPECIAL_TOKENS = [PAD, BOS, EOS, IM_START]
VOCAB_SIZE = 1024

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

_CORPUS = [
    "system user assistant tool",
    "You are a helpful assistant. Answer the question clearly and politely.",
    "Thanks for the details. Here is what I would do first, then next, and finally.",
    "I'm sorry, but I can't help with that here. What I can do instead is explain the options.",
    "Please contact a qualified professional for advice about your situation.",
    "How do I cancel my subscription before the renewal date?",
    "Can you help me plan a budget for the family holiday next summer?",
    "My printer keeps jamming when I print double-sided pages. What should I check?",
    "Step one: check the settings. Step two: restart the device. Step three: try again.",
    "The answer is yes, because the invoice was paid on time and the receipt shows the date.",
    "Let me think step by step. First, the total is twelve. Then subtract four. Final answer: eight.",
    "Empathetic reflection, identify pattern, teach technique, practice prompt, encouragement.",
    "Acknowledge the issue, show understanding, provide solution steps, confirm understanding.",
    "positive negative neutral label category easy medium hard edge refusal",
    "The quick brown fox jumps over the lazy dog. 0 1 2 3 4 5 6 7 8 9 10 100 2024",
    "Would you like me to walk you through it? Let me know if anything is unclear.",
    "def main(): return 42  # a small python function with a comment",
    "Dear team, I am writing about the meeting on Monday at 10am in the main office.",
]

_WORDS = (
    "about account address advice after again against agent answer appointment april arrive article ask "
    "available balance bank because before begin behaviour below benefit better between bill book border "
    "budget build business calendar call cancel card careful change charge check child choose city claim "
    "class clear client close code colleague comment company compare complete confirm contract correct cost "
    "country course customer daily damage data date deadline decide delivery describe detail device "
    "difference doctor document double during early email energy error evening evidence example expense "
    "explain family feature feedback field figure file final finance follow form friday garden general "
    "guide health history holiday house however idea important include income information insurance "
    "internet invoice issue january journey kitchen language later learn letter level library limit list "
    "local machine manager market meeting message method minute mistake money month morning network "
    "number office online option order other owner package parent password payment people period person "
    "phone picture place policy practice price problem process product project question quickly reason "
    "receipt recipe record refund remember report request result return review safety schedule school "
    "screen second service session share simple software someone special statement student subject summary "
    "support system teacher thanks ticket today travel update upload useful value version weather website "
    "week weekend window without worry writing yesterday"
).split()

_lock = threading.Lock()
_built: dict[str, Path] = {}


def build_tokenizer():
    """A byte-level BPE tokenizer trained on a small corpus, as a PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    words = [" ".join(_WORDS[i::k]) for k in (3, 5, 7) for i in range(k)]
    tok.train_from_iterator((_CORPUS + words) * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[IM_START],
        model_max_length=512,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(folder: Path | str) -> Path:
    """Write the tiny model and its tokenizer into ``folder``; return the folder."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_model_path() -> Path:
    """The tiny model, built once per process into a temporary folder (removed at exit)."""
    with _lock:
        path = _built.get("default")
        if path is None or not (path / "config.json").exists():
            root = Path(tempfile.mkdtemp(prefix="tunesmith-tiny-model-"))
            atexit.register(shutil.rmtree, root, True)
            path = build_tiny_model(root / "model")
            _built["default"] = path
        return path
