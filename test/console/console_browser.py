"""The console in a real browser: Debian's headless Chromium, driven by
Playwright (PyPI) through its executable_path, against a running
`lethe serve` that console_browsertest.cpp started and filled.

Reads its inputs from the environment (LETHE_CONSOLE_*), walks the pages an
admin uses, checks what each shows, and saves a screenshot of each main
page. Exits non-zero, naming the step, at the first thing that is not so.
"""
import os
import sys

from playwright.sync_api import expect, sync_playwright

URL = os.environ["LETHE_CONSOLE_URL"]
ADMIN_EMAIL = os.environ["LETHE_CONSOLE_ADMIN_EMAIL"]
CUSTOMER_EMAIL = os.environ["LETHE_CONSOLE_CUSTOMER_EMAIL"]
CUSTOMER_ID = os.environ["LETHE_CONSOLE_CUSTOMER_ID"]
REQUEST_ID = os.environ["LETHE_CONSOLE_REQUEST_ID"]
USER_EMAIL = os.environ["LETHE_CONSOLE_USER_EMAIL"]
TASKS = ["payment_provider", "newsletter"]  # lethe serve's default --erasure-tasks
PROJECTIONS = int(os.environ["LETHE_CONSOLE_PROJECTIONS"])  # each owes the erasure a receipt
PASSWORD = os.environ["LETHE_CONSOLE_PASSWORD"]
SHOTS = os.environ["LETHE_CONSOLE_SCREENSHOTS"]
CHROMIUM = os.environ.get("LETHE_CHROMIUM", "/usr/bin/chromium")
TIMEOUT_MS = 20_000


def step(name):
    print("console: " + name, flush=True)


def shot(page, name):
    page.screenshot(path=os.path.join(SHOTS, name + ".png"), full_page=True)


def sign_in(page, email):
    page.goto(URL + "/console")
    page.locator("#signin input[name=email]").fill(email)
    page.locator("#signin input[name=password]").fill(PASSWORD)
    page.locator("#signin button[type=submit]").click()


ERRORS = []


def main():
    os.makedirs(SHOTS, exist_ok=True)
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        errors = ERRORS
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and print("console: browser said: " + m.text, flush=True))

        step("an admin signs in and lands on the customers")
        sign_in(page, ADMIN_EMAIL)
        expect(page.locator("#customers")).to_be_visible()
        expect(page.locator("#whoami")).to_contain_text("(admin)")
        expect(page.locator("#live")).to_be_visible()

        step("finds the customer by email, through the blind index")
        page.locator("#customer-search input[name=email]").fill(CUSTOMER_EMAIL)
        page.locator("#customer-search button[type=submit]").click()
        rows = page.locator("#customers tbody tr[data-user]")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text(CUSTOMER_EMAIL)
        page.locator("#customer-search input[name=email]").fill("")
        page.locator("#customer-search button[type=submit]").click()
        expect(page.locator("#customers tbody tr[data-user]").nth(2)).to_be_visible()
        shot(page, "customers")

        step("opens the customer's page: account, plan and usage, staff notes")
        page.goto(URL + "/console#/customers/" + CUSTOMER_ID)
        expect(page.locator("#plan")).to_contain_text("of 100 units used")
        expect(page.locator("#plan")).to_contain_text("ending 4242")
        page.locator("#add-note textarea").fill("Called about an invoice; asked to be forgotten.")
        page.locator("#add-note button").click()
        expect(page.locator("#notes li")).to_contain_text("asked to be forgotten")
        shot(page, "customer")

        step("the erasure queue: searched by email, with the overdue marker")
        page.goto(URL + "/console#/erasures")
        row = page.locator("#erasures tr[data-request='" + REQUEST_ID + "']")
        expect(row).to_contain_text("pending")
        expect(row.locator(".badge.danger")).to_have_text("overdue")
        page.locator("#erasure-search input[name=email]").fill(CUSTOMER_EMAIL)
        page.locator("#erasure-search button[type=submit]").click()
        expect(page.locator("#erasures tbody tr[data-request]")).to_have_count(1)
        expect(page.locator("#erasures tbody tr[data-request]").first).to_have_attribute("data-request", REQUEST_ID)
        page.locator("#erasure-search input[name=email]").fill("")
        page.locator("#erasure-search button[type=submit]").click()
        expect(page.locator("#erasures tbody tr[data-request]").nth(1)).to_be_visible()
        shot(page, "erasures")

        step("opens the request's map and carries it out, after saying yes")
        page.locator("#erasures a[href='#/erasures/" + REQUEST_ID + "']").click()
        expect(page.locator("#request-status")).to_have_text("pending")
        expect(page.locator("#overdue")).to_be_visible()
        expect(page.locator("#receipts")).to_contain_text("users.user_id: anonymize")
        expect(page.locator("#receipts tbody tr")).to_have_count(PROJECTIONS)
        # Her streams: her account's, the plan she gave a card to, this request.
        for stream in ["user-" + CUSTOMER_ID, "billingplan-" + CUSTOMER_ID, "erasure-" + REQUEST_ID]:
            expect(page.locator("#streams tr[data-stream='" + stream + "']")).to_be_visible()
        expect(page.locator("#their-dead-letters")).to_contain_text("None")
        expect(page.locator("#receipts .badge.ok")).to_have_count(0)
        page.locator("#execute").click()
        expect(page.locator("#confirm")).to_be_visible()
        page.locator("#confirm-ok").click()
        step("watches the receipts arrive as the projections apply the erasure")
        expect(page.locator("#request-status")).to_have_text("erased")
        expect(page.locator("#receipts .badge.ok")).to_have_count(PROJECTIONS, timeout=60_000)
        expect(page.locator("#fingerprint")).not_to_contain_text("still exists")
        expect(page.locator("#overdue")).to_have_count(0)
        step("confirms each external system forgot the person; the request is complete")
        for task in TASKS:
            page.locator("#tasks tr[data-task='" + task + "'] button").click()
            page.locator("#confirm-ok").click()
            expect(page.locator("#tasks tr[data-task='" + task + "']")).to_contain_text("confirmed by")
        expect(page.locator("#request-status")).to_have_text("complete")
        shot(page, "erasure")

        step("the operations page: every projection with its lag, the dead letter masked")
        page.goto(URL + "/console#/operations")
        expect(page.locator("#projections tr[data-projection='users']")).to_be_visible()
        expect(page.locator("#relay-backlog")).to_contain_text("events")
        letter = page.locator("#dead-letter-list tr[data-dead-letter]").first
        expect(letter).to_contain_text("user-garbled")
        expect(letter.locator(".masked")).to_contain_text("bytes")
        expect(letter).not_to_contain_text("not an event")
        shot(page, "operations")
        step("reveals it, after saying yes (an audited action)")
        letter.locator("button").click()
        page.locator("#confirm-ok").click()
        expect(letter.locator("pre")).to_contain_text("hex: fffe6e6f7420616e206576656e74")  # not UTF-8, then "not an event"

        step("rebuilds the users read model beside the live one, after saying yes; it cuts over")
        users = page.locator("#projections tr[data-projection='users']")
        users.get_by_role("button", name="Rebuild").click()
        expect(page.locator("#confirm-text")).to_contain_text("Rebuild users beside the live version")
        page.locator("#confirm-ok").click()
        expect(users.locator(".job")).to_contain_text("rebuild done", timeout=120000)
        expect(users.locator(".job")).to_contain_text("kept in")
        expect(users.get_by_role("button", name="Rebuild")).to_be_enabled()
        shot(page, "operations-rebuilt")

        step("signs out; a plain user is refused")
        page.locator("#signout").click()
        expect(page.locator("#signin")).to_be_visible()
        sign_in(page, USER_EMAIL)
        expect(page.locator("#refused")).to_contain_text("Not for this account")
        expect(page.locator("#nav a:visible")).to_have_count(0)

        if errors:
            raise AssertionError("the page raised: " + "; ".join(errors))
        browser.close()
    step("all checks passed")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the step printed last names where it stopped
        print("console: FAILED: " + type(e).__name__ + ": " + str(e), file=sys.stderr, flush=True)
        for error in ERRORS:
            print("console: the page raised: " + error, file=sys.stderr, flush=True)
        sys.exit(1)
