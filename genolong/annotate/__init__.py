"""Annotate a genome from a trained checkpoint: tile, stitch, decode, write GFF3/BED/TSV."""

from genolong.annotate.annotator import AnnotationResult, Annotator

__all__ = ["AnnotationResult", "Annotator"]
