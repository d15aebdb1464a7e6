"""Insight (智能分析): message classification and routing suggestions (duplicates, hot spots and
early warnings to come). See docs/insight.md."""
