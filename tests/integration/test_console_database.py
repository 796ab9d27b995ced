"""What the console reads from the database: each panel of a table the database has, never a personal or secret
column, and a panel whose query fails said so while the others still show."""

import psycopg

from local.up.console.database import panels


def test_a_database_without_the_tables_shows_no_panels(empty_database_url):
    assert panels(empty_database_url) == []


def test_a_panel_shows_only_when_its_table_is_there(empty_database_url):
    with psycopg.connect(empty_database_url) as conn:
        conn.execute(
            "CREATE TABLE quarantine (source text, ocid text, reason text, seen_count int, "
            "first_seen_at timestamptz, last_seen_at timestamptz)"
        )
        conn.execute("INSERT INTO quarantine VALUES ('etenders', 'ocds-1', 'no date', 2, now(), now())")

    [panel] = panels(empty_database_url)
    assert (panel.title, panel.rows[0][:4], panel.error) == ("quarantine", ("etenders", "ocds-1", "no date", 2), None)


def test_alert_subscriptions_show_without_their_address_or_secret(database_url):
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO alert_subscriptions (channel, address, signing_secret, query) "
            "VALUES ('webhook', 'https://hooks.example.org/x', 'whsec_secret', 'cleaning')"
        )

    [subscriptions] = [panel for panel in panels(database_url) if panel.title == "alert subscriptions"]
    assert "channel" in subscriptions.columns
    assert {"address", "signing_secret"} & set(subscriptions.columns) == set()
    assert [row[subscriptions.columns.index("query")] for row in subscriptions.rows] == ["cleaning"]
    assert "https://hooks.example.org/x" not in repr(subscriptions.rows) and "whsec_secret" not in repr(
        subscriptions.rows
    )


def test_a_panel_whose_query_fails_says_why_and_the_others_still_show(database_url):
    with psycopg.connect(database_url) as conn:
        conn.execute("ALTER TABLE quarantine DROP COLUMN reason")

    shown = {panel.title: panel for panel in panels(database_url)}
    assert shown["quarantine"].error == '42703: column "reason" does not exist'
    assert shown["job_log"].error is None and shown["tenders by enrichment"].error is None
