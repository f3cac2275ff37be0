"""The ObjectStore contract: one suite, bound once per adapter (memory, filesystem; S3 in a later issue)."""

from __future__ import annotations

import hashlib
import io
import threading

import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from jackfruit.domain.errors import Conflict, InvalidInput, NotFound


class ObjectStoreContract:
    """Subclasses provide ``make_store(write_once: bool)`` as a fixture-aware factory."""

    @pytest.fixture
    def store(self, make_store):
        return make_store(False)

    @pytest.fixture
    def raw(self, make_store):
        return make_store(True)

    def test_put_get_roundtrip_reports_size_and_sha(self, store):
        body = b"GRIB" + bytes(range(256)) * 10 + b"7777"
        info = store.put("a/b/c.grib", body)
        assert (info.key, info.size, info.sha256) == ("a/b/c.grib", len(body), hashlib.sha256(body).hexdigest())
        assert store.get("a/b/c.grib") == body
        assert store.head("a/b/c.grib").size == len(body)
        with store.open("a/b/c.grib") as f:
            assert f.read() == body

    def test_put_streams_a_file_object(self, store):
        body = b"x" * (3 * 1024 * 1024 + 17)
        info = store.put("big/object", io.BytesIO(body))
        assert info.size == len(body)
        assert info.sha256 == hashlib.sha256(body).hexdigest()
        assert store.get("big/object") == body

    def test_get_range(self, store):
        store.put("r", b"0123456789")
        assert store.get_range("r", 2, 3) == b"234"
        assert store.get_range("r", 7) == b"789"
        assert store.get_range("r", 8, 100) == b"89"

    def test_put_file_stores_and_consumes_the_file(self, store, raw, tmp_path):
        for n, s in enumerate((store, raw)):
            path = tmp_path / f"body{n}"
            path.write_bytes(b"from a file" * 1000)
            info = s.put_file("f/x", str(path))
            assert (info.size, info.sha256) == (11000, hashlib.sha256(b"from a file" * 1000).hexdigest())
            assert s.get("f/x") == b"from a file" * 1000
            assert not path.exists()
        path = tmp_path / "again"
        path.write_bytes(b"other")
        with pytest.raises(Conflict):
            raw.put_file("f/x", str(path))
        assert raw.get("f/x") == b"from a file" * 1000 and path.read_bytes() == b"other"

    def test_local_path_when_given_holds_the_object(self, store, raw):
        for s in (store, raw):
            s.put("p/x", b"in place")
            path = s.local_path("p/x")
            if path is not None:
                with open(path, "rb") as f:
                    assert f.read() == b"in place"

    def test_missing_key_is_not_found(self, store):
        for call in (store.get, store.head, store.open, lambda k: store.get_range(k, 0, 1), store.delete,
                     store.local_path):
            with pytest.raises(NotFound):
                call("no/such/key")
        assert store.exists("no/such/key") is False

    def test_list_by_prefix_in_key_order(self, store):
        for key in ("b/2", "a/1", "a/3", "a/2/x", "ab/1"):
            store.put(key, key.encode())
        assert [i.key for i in store.list("a/")] == ["a/1", "a/2/x", "a/3"]
        assert [i.key for i in store.list("a")] == ["a/1", "a/2/x", "a/3", "ab/1"]
        assert [i.key for i in store.list()] == ["a/1", "a/2/x", "a/3", "ab/1", "b/2"]
        assert [i.size for i in store.list("b/")] == [3]
        assert list(store.list("zzz")) == []

    def test_mutable_store_overwrites_and_deletes(self, store):
        store.put("k", b"one")
        store.put("k", b"two")
        assert store.get("k") == b"two"
        store.delete("k")
        assert not store.exists("k")

    def test_write_once_refuses_overwrite_and_keeps_original(self, raw):
        raw.put("ads/d/2025-03-12/x.grib", b"original")
        with pytest.raises(Conflict):
            raw.put("ads/d/2025-03-12/x.grib", b"evil")
        with pytest.raises(Conflict):
            raw.put("ads/d/2025-03-12/x.grib", io.BytesIO(b"evil stream"))
        with pytest.raises(Conflict):
            raw.delete("ads/d/2025-03-12/x.grib")
        assert raw.get("ads/d/2025-03-12/x.grib") == b"original"
        assert [i.key for i in raw.list()] == ["ads/d/2025-03-12/x.grib"]

    def test_sweep_partials_never_touches_committed_objects(self, raw, store):
        for s in (raw, store):
            s.put("a/b", b"committed")
            assert s.sweep_partials({"01890c24-905b-7122-b170-b60814e6ee06"}) == 0
            assert s.sweep_partials({"01890c24-905b-7122-b170-b60814e6ee06"}, {"a/b"}) == 0  # idle, committed
            assert s.get("a/b") == b"committed"

    def test_concurrent_write_once_puts_exactly_one_wins(self, raw):
        results: list[object] = []

        def put(n: int) -> None:
            try:
                raw.put("same/key", f"writer-{n}".encode() * 1000)
                results.append(n)
            except Conflict:
                results.append("conflict")

        threads = [threading.Thread(target=put, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [r for r in results if r != "conflict"]
        assert len(winners) == 1
        assert raw.get("same/key") == f"writer-{winners[0]}".encode() * 1000

    @pytest.mark.parametrize("key", ["", "/abs", "a//b", "a/../b", "../x", "a/./b", ".hidden", "a/b/", "a\nb",
                                     "a\\b"])
    def test_malformed_keys_are_refused(self, store, key):
        with pytest.raises(InvalidInput):
            store.put(key, b"x")
        assert list(store.list()) == []

    def test_stateful_against_a_dict(self, make_store):
        store_factory = make_store

        class Machine(RuleBasedStateMachine):
            def __init__(self) -> None:
                super().__init__()
                self.store = store_factory(False)
                self.model: dict[str, bytes] = {}

            keys = st.sampled_from(["a", "a/b", "a/c", "b/x/y", "c"])

            @rule(key=keys, body=st.binary(max_size=64))
            def put(self, key, body):
                # "a" and "a/b" cannot both be files on a filesystem; the model mirrors that by skipping.
                if any(k.startswith(key + "/") or key.startswith(k + "/") for k in self.model):
                    return
                self.store.put(key, body)
                self.model[key] = body

            @rule(key=keys)
            def delete(self, key):
                if key in self.model:
                    self.store.delete(key)
                    del self.model[key]
                else:
                    with pytest.raises(NotFound):
                        self.store.delete(key)

            @invariant()
            def same_contents(self):
                assert [i.key for i in self.store.list()] == sorted(self.model)
                for k, v in self.model.items():
                    assert self.store.get(k) == v

        Machine.TestCase.settings = settings(max_examples=25, stateful_step_count=15, deadline=None)
        Machine.TestCase().runTest()
