from streams.pseudonyms import Pseudonymizer


def test_the_same_key_gives_the_same_pseudonym_and_another_key_another() -> None:
    a, b = Pseudonymizer(b"key-a"), Pseudonymizer(b"key-b")
    assert a("C-1") == a("C-1") != b("C-1")
    assert a("C-1").startswith("px-") and len(a("C-1")) == 35
    assert a("C-1") != a("C-2")


def test_pseudonyms_are_not_hashed_twice_and_off_means_off() -> None:
    a = Pseudonymizer(b"key-a")
    assert a(a("C-1")) == a("C-1")
    off = Pseudonymizer(None)
    assert not off.enabled and off("C-1") == "C-1"
