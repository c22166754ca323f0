"""The RDF namespaces plastrond's code itself relies on (the models name their own)."""

from __future__ import annotations

from rdflib import Namespace
from rdflib.namespace import RDF, RDFS, XSD

__all__ = [
    "DCTERMS",
    "EBUCORE",
    "FABIO",
    "FCREPO",
    "FEDORA",
    "IANA",
    "LDP",
    "MEMENTO",
    "ORE",
    "PCDM",
    "PCDMUSE",
    "PREMIS",
    "RDF",
    "RDFS",
    "XSD",
]

PCDM = Namespace("http://pcdm.org/models#")
DCTERMS = Namespace("http://purl.org/dc/terms/")
PCDMUSE = Namespace("http://pcdm.org/use#")
ORE = Namespace("http://www.openarchives.org/ore/terms/")
IANA = Namespace("http://www.iana.org/assignments/relation/")
FABIO = Namespace("http://purl.org/spar/fabio/")
EBUCORE = Namespace("http://www.ebu.ch/metadata/ontologies/ebucore/ebucore#")
PREMIS = Namespace("http://www.loc.gov/premis/rdf/v1#")
LDP = Namespace("http://www.w3.org/ns/ldp#")
FEDORA = Namespace("http://fedora.info/definitions/v4/repository#")
FCREPO = Namespace("http://fedora.info/definitions/fcrepo#")
MEMENTO = Namespace("http://mementoweb.org/ns#")
