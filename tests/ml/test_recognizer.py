import numpy as np
import pytest
import torch

from ml.data.alphabet import Alphabet, normalize_text
from ml.recognition.model import LineRecognizer, RecognizerConfig
from ml.recognition.data import encode_lines, frames_needed, make_batch
from ml.recognition.tiny import tiny_line_samples

SMALL = RecognizerConfig(num_classes=12, height=32, channels=(4, 8, 8, 8), projection=16, lstm_hidden=16, lstm_layers=2,
                         dropout=0.0)


def test_output_shape_and_lengths():
    model = LineRecognizer(SMALL).eval()
    logits = model(torch.rand(3, 1, 32, 101))
    assert logits.shape == (3, 25, 12)
    assert model.output_lengths(torch.tensor([101, 40, 3])).tolist() == [25, 10, 1]


def test_height_must_pool_evenly():
    with pytest.raises(ValueError):
        LineRecognizer(RecognizerConfig(num_classes=5, height=40))


def test_a_line_reads_the_same_alone_or_beside_a_wider_one():
    torch.manual_seed(0)
    model = LineRecognizer(SMALL).eval()
    short, wide = torch.rand(1, 1, 32, 60), torch.rand(1, 1, 32, 120)
    batch = torch.zeros(2, 1, 32, 120)
    batch[0, :, :, :60], batch[1] = short[0], wide[0]
    alone = model(short, torch.tensor([60]))
    together = model(batch, torch.tensor([60, 120]))
    # Packing hides the padding from the LSTM; only the CNN's edge frames see it, barely.
    torch.testing.assert_close(together[0, :15], alone[0], atol=1e-3, rtol=1e-3)


def test_growing_the_output_layer_keeps_old_outputs():
    torch.manual_seed(0)
    model = LineRecognizer(SMALL).eval()
    images = torch.rand(2, 1, 32, 64)
    before = model(images)
    model.grow_classes(15)
    after = model(images)
    assert after.shape[-1] == 15 and model.config.num_classes == 15
    torch.testing.assert_close(after[..., :12], before)
    # New characters start unlikely, so old probabilities barely move.
    torch.testing.assert_close(after.softmax(-1)[..., :12], before.softmax(-1), atol=1e-3, rtol=0)
    with pytest.raises(ValueError):
        model.grow_classes(10)


def test_alphabet_extension_keeps_indices_and_normalises():
    alphabet = Alphabet.from_texts(["bac"])
    grown = alphabet.extended(["cab", "e\u0301t\u00e9"])   # é decomposed and precomposed are one character
    assert grown.characters[:3] == alphabet.characters == ["a", "b", "c"]
    assert grown.characters[3:] == sorted({"t", normalize_text("é")})
    assert grown.encode("abc") == alphabet.encode("abc") == [1, 2, 3]
    assert grown.decode(grown.encode("été")) == normalize_text("été")


def test_ctc_needs_a_frame_between_repeats():
    assert frames_needed([1, 1, 2]) == 4
    assert frames_needed([1, 2, 3]) == 3


def test_overfit_one_batch():
    torch.manual_seed(0)
    lines = tiny_line_samples(["le 12 mars", "mon frère"])
    alphabet = Alphabet.from_texts([line.text for line in lines])
    config = RecognizerConfig(num_classes=alphabet.num_classes, height=32, channels=(8, 16, 32, 32), projection=48,
                              lstm_hidden=64, lstm_layers=1, dropout=0.0)
    model = LineRecognizer(config)
    batch = make_batch(encode_lines(lines, alphabet, 32), [0, 1], augment=None, rng=np.random.default_rng(0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    ctc = torch.nn.CTCLoss(zero_infinity=True)
    losses = []
    for _ in range(120):
        log_probs = model(batch.images).log_softmax(-1).transpose(0, 1)
        loss = ctc(log_probs, batch.targets, model.output_lengths(batch.widths), batch.target_lengths)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 2.0
    assert min(losses[-10:]) < 0.1, losses[-10:]


def test_fine_tuning_with_a_frozen_cnn_changes_only_what_follows_it(tiny_recognizer_path, tiny_lines, tmp_path):
    from ml.checkpoints import load_checkpoint
    from ml.recognition.train import TrainConfig, train_recognizer

    before = load_checkpoint(tiny_recognizer_path, expected_kind="recognizer")["state_dict"]
    config = TrainConfig(epochs=10**6, max_steps=4, batch_size=4, lr=1e-2, warmup_steps=1, freeze_cnn=True,
                         checkpoint_every=10**6)
    result = train_recognizer(tiny_lines[:8], [], out_dir=tmp_path, config=config, init=tiny_recognizer_path,
                              show_progress=False)
    after = load_checkpoint(result.best_path, expected_kind="recognizer")["state_dict"]
    for name, tensor in before.items():
        if name.startswith("cnn."):     # weights and batch-norm statistics alike
            assert torch.equal(after[name], tensor), name
    assert any(not torch.equal(after[name], before[name]) for name in before if name.startswith("lstm."))
