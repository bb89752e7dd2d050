from idflow.kinds.normal import normalise_taskdef
from idflow.plan.diffing import field_diffs
from idflow.repo.task_files import validate_definition


def test_schema_written_back_by_the_server_normalises_equal():
    local = normalise_taskdef({"name": "t", "inputSchema": {"name": "s", "type": "JSON"}})
    stored = normalise_taskdef(
        {
            "name": "t",
            "inputSchema": {
                "name": "s",
                "type": "JSON",
                "version": 1,
                "createTime": 0,
                "updateTime": 0,
                "ownerApp": "x",
            },
        }
    )
    assert local == stored and field_diffs(stored, local) == ()


def test_schema_problems_are_reported():
    problems = validate_definition({"name": "t", "outputSchema": {"name": "s", "type": "XML", "foo": 1}})
    assert any("'type' must be one of JSON, AVRO, PROTOBUF" in p for p in problems)
    assert any("unknown key(s) 'foo'" in p for p in problems)


def test_int_and_float_are_a_change():
    assert [d.path for d in field_diffs({"inputTemplate": {"a": 1}}, {"inputTemplate": {"a": 1.5}})] == [
        "inputTemplate.a"
    ]
