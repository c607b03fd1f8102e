from __future__ import annotations

import pandas as pd

from segmentation.line_items import LINE_ITEM_COLUMNS, clean_line_items


def _items(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(LINE_ITEM_COLUMNS))


def test_every_row_is_used_or_quarantined_with_its_reason():
    raw = _items([
        ("536365", "17850", "2010-12-01 08:26:00", "85123A", "WHITE HANGING HEART", None, "6", "2.55"),
        ("C536379", "14527", "2010-12-01 09:41:00", "D", "Discount", None, "-1", "27.5"),
        ("C536383", "15311", "2010-12-01 09:49:00", "35004C", "SET OF 3 COLOURED", None, "-1", "4.65"),
        ("536414", None, "2010-12-01 11:52:00", "22139", None, None, "56", "0"),
        ("536370", "12583", "2010-12-01 08:45:00", "POST", "POSTAGE", None, "3", "18"),
        ("536981", "14911", "2010-12-03 14:26:00", "22847", "BREAD BIN", None, "1", "0"),
        ("536982", "14911", "not a date", "22847", "BREAD BIN", None, "1", "3"),
        ("536983", "14911", "2010-12-03 14:26:00", "", "x", None, "1", "3"),
        ("536984", "14911", "2010-12-03 14:26:00", "22848", None, "Kitchen", "x", "3"),
    ])
    clean, rejected = clean_line_items(raw)
    assert len(clean) + len(rejected) == len(raw)
    assert clean[["transaction_id", "product_id", "quantity", "unit_price"]].values.tolist() == [["536365", "85123A", 6.0, 2.55]]
    assert clean["occurred_at"].iloc[0] == pd.Timestamp("2010-12-01 08:26:00", tz="UTC")
    assert dict(zip(rejected["transaction_id"], rejected["reason"], strict=True)) == {
        "C536379": "cancellation or return: quantity -1",
        "C536383": "cancellation or return: quantity -1",
        "536414": "no customer",
        "536370": "not a product: code POST",
        "536981": "unit price is not positive (0)",
        "536982": "date is not a date ('not a date')",
        "536983": "no product",
        "536984": "quantity is not a number ('x')",
    }


def test_optional_columns_default_and_name_falls_back_to_the_code():
    raw = pd.DataFrame({
        "transaction_id": ["t1"], "customer_id": ["a"], "occurred_at": ["2024-01-01"], "product_id": ["P1"],
    })
    clean, rejected = clean_line_items(raw)
    assert rejected.empty
    row = clean.iloc[0]
    assert (row["product_name"], row["quantity"]) == ("P1", 1.0)
    assert pd.isna(row["unit_price"]) and pd.isna(row["category"])


def test_non_product_codes_are_configurable():
    raw = _items([("t1", "a", "2024-01-01", "POST", "Postage", None, 1, 5.0), ("t2", "a", "2024-01-01", "FEE", "Fee", None, 1, 5.0)])
    clean, rejected = clean_line_items(raw, non_product_codes=["FEE"])
    assert clean["product_id"].tolist() == ["POST"]
    assert rejected["reason"].tolist() == ["not a product: code FEE"]


def test_names_are_trimmed_and_a_blank_name_falls_back_to_the_code():
    raw = _items([("t1", "a", "2024-01-01", "22423", "SMALL CERAMIC TOP STORAGE JAR ", None, 1, 5.0),
                  ("t2", "a", "2024-01-01", "P2", "   ", None, 1, 5.0)])
    clean, rejected = clean_line_items(raw)
    assert rejected.empty
    assert clean["product_name"].tolist() == ["SMALL CERAMIC TOP STORAGE JAR", "P2"]
