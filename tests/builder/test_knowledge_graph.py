"""Knowledge-graph records: the sample schema's triple shape makes grounded items facts, injected triple files
add facts the corpus grounds, fact and two-hop records carry every supporting span, and the split keeps
records that name one entity on one side."""

from __future__ import annotations

import json

import pytest
import rdflib
import yaml

from builder.knowledge_graph import (
    FACT_TEMPLATE,
    TWO_HOP_TEMPLATE,
    build_graph,
    document_triples,
    grounded_in_documents,
    read_triples,
    write_graph,
)
from builder.pipeline import build
from builder.schema_loader import load_schema
from builder.split import split_records
from core import atomic
from core.config import load_config
from core.errors import KnowledgeGraphError, PathEscapeError
from core.options.split import SplitOptions
from schemas.types import Document, GroundedItem, Review, ReviewedRecord, Span
from tests.builder.replay_project import REPO, make_project

SCHEMA = load_schema("samples/license_schema.py:LicenseTerm", REPO)
MIT = (REPO / "samples" / "docs" / "mit.txt").read_text("utf-8")
DOC = Document(id="doc-mit", source="mit.txt", mime="text/plain", title="MIT License", text=MIT)


def _item(evidence: str, kind: str, summary: str, n: int = 0) -> GroundedItem:
    start = MIT.index(evidence)
    return GroundedItem(id=f"item-{n}", schema_name="LicenseTerm", extraction_class="clause", model="m",
                        span=Span(doc_id=DOC.id, start=start, end=start + len(evidence), text=evidence),
                        attributes={"kind": kind, "summary": summary})  # fmt: skip


def test_items_become_facts_and_the_same_fact_twice_is_one_triple_with_both_spans():
    summary = "You may use the software freely."
    items = [_item("Permission is hereby granted", "permission", summary, 0),
             _item("to deal in the Software without restriction", "permission", summary.upper(), 1),  # other case
             _item("THE SOFTWARE IS PROVIDED \"AS IS\"", "limitation", "No warranty.", 2)]  # fmt: skip
    triples = document_triples(items, SCHEMA, {DOC.id: DOC})
    assert [(t.subject, t.relation, t.object) for t in triples] == [
        ("MIT License", "permission", summary), ("MIT License", "limitation", "No warranty.")]  # fmt: skip
    assert [len(t.spans) for t in triples] == [2, 1]
    graph = build_graph(items, SCHEMA, [DOC], [], max_two_hop=10)
    facts = [r for r in graph.records if r.template == FACT_TEMPLATE]
    assert facts[0].instruction == "What permission does the MIT License state?" and facts[0].output == summary
    assert [s.text for s in facts[0].spans] == [items[0].span.text, items[1].span.text]  # every supporting span
    assert facts[0].meta["entities"] == ["mit license", summary.casefold()] and facts[0].doc_id == DOC.id


def test_injected_triples_are_read_checked_against_the_corpus_and_chained(tmp_path):
    csv_file = tmp_path / "facts.csv"
    csv_file.write_text("subject,relation,object\nX11 License,is a variant of,MIT License\n"
                        "Nowhere Org,maintains,Nothing Here\n", "utf-8")  # fmt: skip
    injected = read_triples(csv_file)
    assert [t.sources for t in injected] == [["facts.csv:2"], ["facts.csv:3"]]
    kept, rejected = grounded_in_documents(injected, [DOC])
    assert [t.subject for t in kept] == ["X11 License"]  # "MIT License" is in the text
    assert rejected[0]["sources"] == ["facts.csv:3"] and "neither entity appears" in rejected[0]["reason"]

    items = [_item("THE SOFTWARE IS PROVIDED \"AS IS\"", "limitation", "No warranty.")]
    graph = build_graph(items, SCHEMA, [DOC], [csv_file], max_two_hop=10)
    (chain,) = [r for r in graph.records if r.template == TWO_HOP_TEMPLATE]
    assert chain.instruction == ("According to the documents: X11 License — is a variant of — something — "
                                 "limitation — what?") and chain.output == "No warranty. (through MIT License)"  # fmt: skip
    assert len(chain.meta["triples"]) == 2 and [s.text for s in chain.spans] == [items[0].span.text]
    assert chain.meta["triple_sources"] == ["facts.csv:2"]
    report = graph.report
    assert (report["triples"], report["injected"], report["rejected"], report["two_hop_records"]) == (2, 1, 1, 1)
    assert report["records_per_triple"] == 1.5 and report["two_hop_share"] == round(1 / 3, 4)


def test_a_schema_without_a_triple_shape_takes_injected_triples_in_the_default_forms(tmp_path):
    class NoShape(SCHEMA):  # the sample schema with its triple shape taken away
        triple = None

    csv_file = tmp_path / "facts.csv"
    csv_file.write_text("X11 License,is a variant of,MIT License\nMIT License,is approved by,OSI\n", "utf-8")
    items = [_item("THE SOFTWARE IS PROVIDED \"AS IS\"", "limitation", "No warranty.")]
    graph = build_graph(items, NoShape, [DOC], [csv_file], max_two_hop=10)
    assert graph.report["from_documents"] == 0 and graph.report["injected"] == 2  # items make no facts
    fact = next(r for r in graph.records if r.template == FACT_TEMPLATE)
    assert fact.instruction == "According to the documents: X11 License — is a variant of — what?"
    (chain,) = [r for r in graph.records if r.template == TWO_HOP_TEMPLATE]
    assert chain.output == "OSI (through MIT License)" and chain.spans == []


def test_malformed_triple_files_are_refused_with_the_line(tmp_path):
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("a,b,c\nonly,two\n", "utf-8")
    with pytest.raises(KnowledgeGraphError, match=r"bad.csv:2: a triple row is subject,relation,object"):
        read_triples(bad_csv)
    bad_nt = tmp_path / "bad.nt"
    bad_nt.write_text("<urn:a> <urn:b> <urn:c> .\n<urn:a> <urn:b> .\n", "utf-8")
    with pytest.raises(KnowledgeGraphError, match="bad.nt: not valid N-Triples"):
        read_triples(bad_nt)
    other = tmp_path / "facts.json"
    other.write_text("{}", "utf-8")
    with pytest.raises(KnowledgeGraphError, match="are .csv, .nt or .ttl"):
        read_triples(other)
    good = tmp_path / "good.ttl"
    good.write_text('@prefix e: <urn:e:> .\ne:X11_License e:variant_of "MIT License" .\n', "utf-8")
    (triple,) = read_triples(good)
    assert (triple.subject, triple.relation, triple.object) == ("X11 License", "variant of", "MIT License")


def test_the_graph_is_written_as_turtle_and_json_ld_that_read_back(tmp_path):
    items = [_item("THE SOFTWARE IS PROVIDED \"AS IS\"", "limitation", "No warranty.")]
    triples = document_triples(items, SCHEMA, {DOC.id: DOC})
    write_graph(triples, tmp_path / "g.ttl", tmp_path / "g.jsonld")
    for path, fmt in ((tmp_path / "g.ttl", "turtle"), (tmp_path / "g.jsonld", "json-ld")):
        graph = rdflib.Graph().parse(path, format=fmt)
        labels = {str(o) for _, p, o in graph if p == rdflib.RDFS.label}
        assert labels == {"MIT License", "No warranty."} and len(graph) == 3


def test_records_naming_one_entity_stay_in_one_split():
    def record(n: int, doc: str, entities: list[str]) -> ReviewedRecord:
        return ReviewedRecord(id=f"rec-{n:02d}", instruction="q", input="", output=f"answer {n} " * 3, doc_id=doc,
                              spans=[], schema_name="s", template=FACT_TEMPLATE, model="knowledge-graph",
                              meta={"knowledge_graph": True, "entities": entities}, review=Review(status="accepted"))  # fmt: skip

    records = [record(n, f"doc-{n}", ["hub" if n % 3 == 0 else f"e{n}"]) for n in range(30)]
    splits, manifest = split_records(records, SplitOptions(seed=1), None)
    where = {r.id: name for name, rows in splits.items() for r in rows}
    hub = {where[r.id] for r in records if r.meta["entities"] == ["hub"]}
    assert len(hub) == 1  # ten documents' records name "hub": one split holds them all
    assert manifest.leakage["after"]["entity"] == 0 and manifest.leakage["before"]["total"] >= 0


def test_the_build_writes_the_graph_and_its_records_and_refuses_files_outside_the_project(tmp_path):
    config_path = make_project(tmp_path)
    (tmp_path / "facts.csv").write_text("X11 License,is a variant of,MIT License\n", "utf-8")
    data = yaml.safe_load(config_path.read_text())
    data["records"] = {"knowledge_graph": {"enabled": True, "inject": ["facts.csv"]}}
    config_path.write_text(yaml.safe_dump(data))
    summary = build(load_config(config_path), show_progress=False)
    report = summary.report["knowledge_graph"]
    assert report["injected"] == 1 and report["from_documents"] > 0 and report["records"] >= report["triples"]
    records = [r for r in atomic.read_jsonl(summary.paths.records) if r["meta"].get("knowledge_graph")]
    assert records and all(r["spans"] or r["meta"]["triple_sources"] for r in records)
    assert summary.paths.kg_turtle.is_file() and json.loads(summary.paths.kg_jsonld.read_text("utf-8"))
    assert len(atomic.read_jsonl(summary.paths.kg_triples)) == report["triples"]

    data["records"]["knowledge_graph"]["inject"] = ["../outside.csv"]
    config_path.write_text(yaml.safe_dump(data))
    with pytest.raises(PathEscapeError):
        build(load_config(config_path), show_progress=False)
    (tmp_path / "facts.csv").write_text("X11 License,is a variant of\n", "utf-8")
    data["records"]["knowledge_graph"]["inject"] = ["facts.csv"]
    config_path.write_text(yaml.safe_dump(data))
    before = summary.paths.report_json.stat().st_mtime_ns
    with pytest.raises(KnowledgeGraphError, match="facts.csv:1"):
        build(load_config(config_path), show_progress=False)
    assert summary.paths.report_json.stat().st_mtime_ns == before  # refused before anything ran or was written
