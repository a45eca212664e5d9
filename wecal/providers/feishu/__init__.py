"""Feishu (飞书) / Lark calendar v4: converters, wire schema and error table."""
