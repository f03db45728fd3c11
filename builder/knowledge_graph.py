"""Knowledge-graph records: grounded items as facts of a graph, verbalised into fact and two-hop records.

A schema that declares a `triple` shape (schemas.base.TripleShape) makes each grounded item a
(subject, relation, object) fact; the same fact stated in several places is one triple carrying
every span. A triple file the user injects (Turtle, N-Triples, or CSV of subject,relation,object)
adds facts whose provenance is the file and line; an injected triple whose subject and object
both appear in no document is rejected with the reason, since nothing in the corpus grounds it.
The graph is held in networkx (two-hop chains: a → b → c along two facts) and written with
rdflib as Turtle and JSON-LD. Every record lists every supporting span (or triple id) and the
entities it names (`meta.entities`), which the split keeps on one side (builder/split.py): a test
record never names an entity a training record names.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.records import document_title
from core.errors import KnowledgeGraphError
from core.shingles import folded
from schemas.base import ExtractionSchema, TripleShape, item_values
from schemas.types import Document, GroundedItem, Record, Span, content_id

FACT_TEMPLATE, TWO_HOP_TEMPLATE = "kg_fact", "kg_two_hop"
NAMESPACE = "urn:dsforge:entity:"
RELATIONS = "urn:dsforge:relation:"


@dataclass
class Triple:
    """One fact: the entities' surface forms, and where it comes from (spans, or the file and line)."""

    id: str
    subject: str
    relation: str
    object: str
    spans: list[Span] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # "path:line" of an injected triple


@dataclass
class GraphResult:
    triples: list[Triple]
    records: list[Record]
    rejects: list[dict[str, Any]]
    report: dict[str, Any]


def entity_key(text: str) -> str:
    """How two mentions are the same entity: case and whitespace folded."""
    return folded(text)


def document_triples(
    items: Sequence[GroundedItem], schema: type[ExtractionSchema], documents: dict[str, Document]
) -> list[Triple]:
    """Each item as a fact of the schema's triple shape; the same fact stated twice is one triple, all spans kept."""
    shape = schema.triple
    if shape is None:
        raise KnowledgeGraphError(f"schema {schema.schema_name()} declares no triple shape (`triple = TripleShape(...)`).")
    triples: dict[tuple[str, str, str], Triple] = {}
    for item in sorted(items, key=lambda i: (i.span.doc_id, i.span.start, i.id)):
        document = documents[item.span.doc_id]
        values = item_values(schema.validate_item(item.span.text, item.attributes), document_title(document),
                             document.source)  # fmt: skip
        subject, relation, obj = str(values.get(shape.subject, "")), shape.relation_of(values), str(values.get(shape.object, ""))
        if not (subject.strip() and relation.strip() and obj.strip()):
            continue
        key = (entity_key(subject), entity_key(relation), entity_key(obj))
        if key not in triples:
            triples[key] = Triple(content_id(*key, prefix="triple-"), subject.strip(), relation.strip(), obj.strip())
        triples[key].spans.append(item.span)
    return list(triples.values())


def read_triples(path: Path) -> list[Triple]:
    """An injected triple file: `.csv` (subject,relation,object; a header row allowed), `.nt` or `.ttl`.

    A malformed row or statement fails with the file and line."""
    if not path.is_file():
        raise KnowledgeGraphError(f"no triple file at {path}")
    text = path.read_text("utf-8")
    if path.suffix.lower() == ".csv":
        return _csv_triples(path, text)
    if path.suffix.lower() in (".nt", ".ttl"):
        return _rdf_triples(path, text, "nt" if path.suffix.lower() == ".nt" else "turtle")
    raise KnowledgeGraphError(f"{path}: triple files are .csv, .nt or .ttl, not {path.suffix or 'no extension'}")


def _csv_triples(path: Path, text: str) -> list[Triple]:
    triples = []
    for line, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if line == 1 and [c.strip().lower() for c in row] == ["subject", "relation", "object"]:
            continue
        if len(row) != 3 or not all(cell.strip() for cell in row):
            raise KnowledgeGraphError(f"{path}:{line}: a triple row is subject,relation,object with none empty; got {row!r}")
        subject, relation, obj = (cell.strip() for cell in row)
        triples.append(Triple(content_id(path.name, line, subject, relation, obj, prefix="ext-"), subject, relation,
                              obj, sources=[f"{path.name}:{line}"]))  # fmt: skip
    return triples


def _rdf_triples(path: Path, text: str, fmt: str) -> list[Triple]:
    import rdflib

    graph = rdflib.Graph()
    try:
        graph.parse(data=text, format=fmt)
    except Exception as exc:  # noqa: BLE001 - rdflib's parsers raise their own kinds; all name the line
        raise KnowledgeGraphError(f"{path}: not valid {'N-Triples' if fmt == 'nt' else 'Turtle'}: {exc}") from None
    triples = []
    for subject, relation, obj in sorted(graph, key=lambda t: tuple(map(str, t))):
        names = [_name(term) for term in (subject, relation, obj)]
        triples.append(Triple(content_id(path.name, *names, prefix="ext-"), *names, sources=[path.name]))
    return triples


def _name(term: Any) -> str:
    """A readable name for an RDF term: a literal's text, else the IRI's last segment."""
    import rdflib

    if isinstance(term, rdflib.Literal):
        return str(term)
    text = str(term)
    for cut in ("#", "/", ":"):
        text = text.rsplit(cut, 1)[-1] if cut in text else text
    return text.replace("_", " ")


def grounded_in_documents(triples: Sequence[Triple], documents: Sequence[Document]) -> tuple[list[Triple], list[dict[str, Any]]]:
    """Injected triples whose subject or object a document mentions; the others rejected with the reason."""
    texts = [entity_key(document.text) for document in documents]
    kept, rejected = [], []
    for triple in triples:
        named = [entity for entity in (triple.subject, triple.object) if any(entity_key(entity) in t for t in texts)]
        if named:
            kept.append(triple)
        else:
            rejected.append({"triple": triple.id, "sources": triple.sources, "subject": triple.subject,
                             "relation": triple.relation, "object": triple.object,
                             "reason": "neither entity appears in any document of the build"})  # fmt: skip
    return kept, rejected


def graph_of(triples: Sequence[Triple]) -> Any:
    """A networkx MultiDiGraph: entity nodes (folded names), one edge per triple."""
    import networkx as nx

    graph = nx.MultiDiGraph()
    for triple in triples:
        graph.add_edge(entity_key(triple.subject), entity_key(triple.object), key=triple.id, triple=triple)
    return graph


def records(
    triples: Sequence[Triple], schema: type[ExtractionSchema], documents: dict[str, Document], max_two_hop: int
) -> tuple[list[Record], int]:
    """One fact record per triple, and two-hop records along chains a → b → c (a ≠ c), at most `max_two_hop`.

    The questions are the schema's triple shape's; a schema without one (injected triples only) asks
    them in TripleShape's default forms."""
    shape = schema.triple or TripleShape.model_construct()  # model_construct: the defaults, no field names
    graph = graph_of(triples)
    out = [_record(FACT_TEMPLATE, shape.fact_question.format(subject=t.subject, relation=t.relation, object=t.object),
                   t.object, [t], schema, documents) for t in triples]  # fmt: skip
    two_hop = 0
    for first in triples:
        middle = entity_key(first.object)
        for _, end, data in sorted(graph.out_edges(middle, data=True), key=lambda e: e[2]["triple"].id):
            second: Triple = data["triple"]
            if end == entity_key(first.subject) or two_hop >= max_two_hop:
                continue
            values = {"subject": first.subject, "relation1": first.relation, "middle": first.object,
                      "relation2": second.relation, "object": second.object}  # fmt: skip
            out.append(_record(TWO_HOP_TEMPLATE, shape.two_hop_question.format(**values),
                               shape.two_hop_answer.format(**values), [first, second], schema, documents))  # fmt: skip
            two_hop += 1
    return out, two_hop


def _record(
    template: str, question: str, answer: str, facts: list[Triple], schema: type[ExtractionSchema],
    documents: dict[str, Document],
) -> Record:
    spans = [span for fact in facts for span in fact.spans]
    entities = sorted({entity_key(name) for fact in facts for name in (fact.subject, fact.object)})
    doc_id = spans[0].doc_id if spans else "kg-" + content_id(*entities)[:16]
    source = documents[doc_id].source if doc_id in documents else "injected triples"
    return Record(
        id=content_id(template, [f.id for f in facts], question, answer, prefix="rec-"),
        instruction=question,
        input="",
        output=answer,
        doc_id=doc_id,
        spans=spans,
        schema_name=schema.schema_name(),
        template=template,
        model="knowledge-graph",
        meta={"knowledge_graph": True, "triples": [f.id for f in facts], "entities": entities, "source": source,
              "stratum": template, "triple_sources": sorted({s for f in facts for s in f.sources})},  # fmt: skip
    )


def write_graph(triples: Sequence[Triple], turtle: Path, jsonld: Path) -> None:
    """The graph as Turtle and JSON-LD (rdflib), entity and relation IRIs minted from the folded names."""
    from urllib.parse import quote

    import rdflib

    from core import atomic

    graph = rdflib.Graph()
    graph.bind("entity", NAMESPACE)
    graph.bind("relation", RELATIONS)
    for triple in triples:
        subject = rdflib.URIRef(NAMESPACE + quote(entity_key(triple.subject)))
        obj = rdflib.URIRef(NAMESPACE + quote(entity_key(triple.object)))
        graph.add((subject, rdflib.URIRef(RELATIONS + quote(entity_key(triple.relation))), obj))
        graph.add((subject, rdflib.RDFS.label, rdflib.Literal(triple.subject)))
        graph.add((obj, rdflib.RDFS.label, rdflib.Literal(triple.object)))
    atomic.write_text(turtle, graph.serialize(format="turtle"))
    atomic.write_text(jsonld, graph.serialize(format="json-ld", indent=2))


def injected_files(config: Any, schema: type[ExtractionSchema]) -> list[Path]:
    """`records.knowledge_graph`'s triple files, resolved inside the project; a graph with neither a triple
    shape nor a file is refused."""
    options = config.records.knowledge_graph
    if not options.enabled:
        return []
    if schema.triple is None and not options.inject:
        raise KnowledgeGraphError(
            f"records.knowledge_graph is on, but schema {schema.schema_name()} declares no triple shape and no "
            "triple file is injected; add `triple = TripleShape(...)` to the schema or list files in inject."
        )
    return [config.resolve(path) for path in options.inject]  # never outside the project folder


def check_graph_settings(config: Any, schema: type[ExtractionSchema]) -> None:
    """Fail on a bad graph setting or a bad line of a triple file before any model runs."""
    for path in injected_files(config, schema):
        read_triples(path)


def build_graph(
    items: Sequence[GroundedItem], schema: type[ExtractionSchema], documents: list[Document], inject: Sequence[Path],
    max_two_hop: int,
) -> GraphResult:
    """The document triples and the injected ones that the corpus grounds, and the records they make."""
    by_id = {d.id: d for d in documents}
    triples = document_triples(items, schema, by_id) if schema.triple else []
    rejects: list[dict[str, Any]] = []
    injected = 0
    for path in inject:
        kept, rejected = grounded_in_documents(read_triples(path), documents)
        triples += kept
        rejects += rejected
        injected += len(kept)
    made, two_hop = records(triples, schema, by_id, max_two_hop) if triples else ([], 0)
    entities = {entity_key(n) for t in triples for n in (t.subject, t.object)}
    report = {
        "triples": len(triples),
        "from_documents": len(triples) - injected,
        "injected": injected,
        "rejected": len(rejects),
        "entities": len(entities),
        "records": len(made),
        "fact_records": len(made) - two_hop,
        "two_hop_records": two_hop,
        "records_per_triple": round(len(made) / len(triples), 3) if triples else None,
        "two_hop_share": round(two_hop / len(made), 4) if made else None,
    }
    return GraphResult(triples, made, rejects, report)
