from ml.export import export_recognizer, load_exported_recognizer


def test_torchscript_export_reads_like_the_checkpoint(tmp_path, tiny_recognizer_path, tiny_recognizer, tiny_lines):
    exported = load_exported_recognizer(export_recognizer(tiny_recognizer_path, tmp_path / "recognizer.ts"))
    images = [line.image for line in tiny_lines]
    expected = tiny_recognizer.recognize(images)
    got = exported.recognize(images)
    assert [r.text for r in got] == [r.text for r in expected]
    for a, b in zip(got, expected):
        assert abs(a.confidence - b.confidence) < 1e-5
    assert exported.measure == tiny_recognizer.measure
