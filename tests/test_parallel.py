"""The certificate does not depend on where the boxes are evaluated."""

from __future__ import annotations

from conftest import t1_spec

from certify.network import canonical_json
from certify.pipeline import certify
from certify.spec import parse_spec


def _cert(**kw):
    spec = parse_spec(t1_spec(p=32, kappa=3.0, w=[[1.0], [0.5]], t=[0.0, 0.1]))
    result, cert = certify(spec, **kw)
    assert result.holds
    return canonical_json(cert)


def test_local_processes_give_the_same_certificate():
    assert _cert(jobs=1) == _cert(jobs=2)


def test_dask_scheduler_gives_the_same_certificate():
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        assert _cert(jobs=1) == _cert(scheduler=cluster.scheduler_address)


def test_unreachable_scheduler_is_bad_input():
    import pytest

    from certify.errors import InputError
    with pytest.raises(InputError):
        _cert(scheduler="tcp://127.0.0.1:9")
