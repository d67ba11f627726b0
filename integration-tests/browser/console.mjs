// Drives Warden's approver console in headless Chromium (playwright-core, the
// Debian chromium at /usr/bin/chromium). Run by integration-tests/tests/e2e/console_browser.rs;
// it does the people's part, the Rust test does the agent's and checks the data path.
//
//   node console.mjs decide   sign in as the requester (refused: self-approval), then
//                             as an approver: see the hold, open a held request's
//                             body preview (masked: the planted secret never shows),
//                             approve the first hold with a
//                             justification, see a second hold appear live, approve
//                             and revoke a grant
//   node console.mjs replay   sign in as an auditor: the session replay shows the
//                             approved retry; the audit status verifies
//
// Environment: CONSOLE_URL, APPROVER, REQUESTER, HOLD_ID, HOLD_RULE, HOLD_REASON,
// GRANT_ID, ENVOY_URL, AGENT_TOKEN, SECOND_PATH, BODY_HOLD_ID, PLANTED_SECRET (decide);
// SESSION_ID (replay);
// WARDEN_SCREENSHOTS_DIR or SCREENSHOTS_DIR for the screenshots; CHROMIUM (default
// /usr/bin/chromium). Prints `RESULT {json}` on success; exits non-zero with a reason.

import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const TIMEOUT = 20_000;
// The pending holds' rows (the #holds section's second table, #decided, lists decided ones).
const PENDING = '#holds table:not(#decided) tbody';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name} (see the header of console.mjs)`);
  return value;
}

const shots = process.env.WARDEN_SCREENSHOTS_DIR || process.env.SCREENSHOTS_DIR || mkdtempSync(join(tmpdir(), 'warden-shots-'));
mkdirSync(shots, { recursive: true });

async function screenshot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/// Signs in through the issuer's demo page as `user`; waits until the console shows them.
async function signIn(browser, user) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('console', (m) => { if (m.type() === 'error') console.error(`[browser ${user}] ${m.text()}`); });
  page.on('pageerror', (e) => console.error(`[browser ${user}] uncaught: ${e.stack || e}`));
  await page.goto(env('CONSOLE_URL'));
  await page.click('#sign-in');
  // The issuer's page: one button per demo user.
  await page.click(`button[name=user][value="${user}"]`);
  await page.waitForURL(/\/console\/$/);
  await page.waitForFunction((u) => document.querySelector('#user').textContent.startsWith(u), user);
  await page.waitForSelector('#live.on');
  return { context, page };
}

// A closed dialog is not visible, so wait for the property rather than a selector.
async function dialogClosed(page) {
  await page.waitForFunction(() => !document.querySelector('#decision-dialog').open);
}

async function openDecision(page, id, action) {
  await page.click(`${PENDING} tr[data-id="${id}"] button.${action}, #grants tbody tr[data-id="${id}"] button.${action}`);
  await page.waitForSelector('#decision-dialog[open]');
}

async function decide() {
  const holdId = env('HOLD_ID');
  const row = `${PENDING} tr[data-id="${holdId}"]`;
  const browser = await launch();
  try {
    // The requester is in an approver group too, but may not decide its own hold.
    const requester = await signIn(browser, env('REQUESTER'));
    await requester.page.waitForSelector(row);
    await openDecision(requester.page, holdId, 'approve');
    await requester.page.fill('#justification', 'approving my own request');
    await requester.page.click('#decision-confirm');
    const refusal = await requester.page.waitForSelector('#decision-error:not([hidden])');
    const refusalText = await refusal.textContent();
    check(/cannot decide|own/i.test(refusalText), `self-approval message: ${refusalText}`);
    await screenshot(requester.page, 'console-self-approval');
    await requester.context.close();

    // An approver sees who, what and why, and approves with a justification.
    const { page } = await signIn(browser, env('APPROVER'));
    await page.waitForSelector(row);
    const text = await page.textContent(row);
    for (const expected of [env('REQUESTER'), env('HOLD_RULE'), env('HOLD_REASON')]) {
      check(text.includes(expected), `the hold row lacks ${JSON.stringify(expected)}: ${text}`);
    }
    // The held request's body, as recorded (masked). The record lands moments after
    // the hold: the console asks again until it is there.
    const bodyRow = `${PENDING} tr[data-id="${env('BODY_HOLD_ID')}"]`;
    await page.click(`${bodyRow} button.preview-toggle`);
    const previewText = await (await page.waitForSelector(`${bodyRow} .preview pre.preview-body`)).textContent();
    const secret = env('PLANTED_SECRET');
    check(previewText.includes('[REDACTED:'), `the preview is not masked: ${previewText}`);
    const pageText = await page.evaluate(() => document.documentElement.outerHTML);
    check(!previewText.includes(secret) && !pageText.includes(secret), 'the planted secret is on the page');
    await screenshot(page, 'console-holds');
    await openDecision(page, holdId, 'approve');
    await page.fill('#justification', 'ticket OPS-42: clean-up agreed with the owner');
    await screenshot(page, 'console-approve-dialog');
    await page.click('#decision-confirm');
    await dialogClosed(page);
    await page.waitForSelector(row, { state: 'detached' });
    await page.waitForSelector(`#decided tbody tr[data-id="${holdId}"] .status-approved`);

    // Live: a hold made now appears without a reload.
    await page.evaluate(() => { window.__sameDocument = true; });
    const second = await fetch(`${env('ENVOY_URL')}${env('SECOND_PATH')}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${env('AGENT_TOKEN')}`, 'x-agent-session': 'console-e2e-live' },
    });
    const secondId = second.headers.get('x-warden-approval-id');
    check(second.status === 403 && secondId, `the second request was not held: ${second.status}`);
    await page.waitForSelector(`${PENDING} tr[data-id="${secondId}"]`);
    check(await page.evaluate(() => window.__sameDocument === true), 'the page reloaded');
    await screenshot(page, 'console-live-update');

    // A grant: approve it, see it among the active grants, revoke it.
    const grantId = env('GRANT_ID');
    await openDecision(page, grantId, 'approve');
    await page.fill('#justification', 'maintenance window');
    await page.click('#decision-confirm');
    await dialogClosed(page);
    await page.click('#tabs button[data-tab=grants]');
    const grantRow = `#grants tbody tr[data-id="${grantId}"]`;
    await page.waitForSelector(grantRow);
    await screenshot(page, 'console-grants');
    await openDecision(page, grantId, 'revoke');
    await page.fill('#justification', 'window over');
    await page.click('#decision-confirm');
    await page.waitForSelector(grantRow, { state: 'detached' });
    check(!(await page.evaluate(() => document.documentElement.outerHTML)).includes(secret), 'the planted secret is on the page');
    console.log(`RESULT ${JSON.stringify({ second: secondId, self_approval: refusalText, preview: previewText })}`);
  } finally {
    await browser.close();
  }
}

async function replay() {
  const sessionId = env('SESSION_ID');
  const holdId = env('HOLD_ID');
  const browser = await launch();
  try {
    const { page } = await signIn(browser, env('APPROVER'));
    await page.click('#tabs button[data-tab=sessions]');
    await page.fill('#filter-identity', env('REQUESTER'));
    await page.fill('#filter-since', '1h');
    await page.click('#session-filter button[type=submit]');
    await page.click(`#sessions-table tr[data-session="${sessionId}"] a.open-session`);
    await page.waitForSelector('#replay:not([hidden])');
    // The held attempt and the approved retry, in order.
    await page.waitForSelector('#timeline li .outcome.status-hold');
    const retry = await page.waitForSelector('#timeline li:has(.outcome.status-allow)');
    const retryText = await retry.textContent();
    check(retryText.includes(holdId), `the retry does not quote ${holdId}: ${retryText}`);
    await screenshot(page, 'console-session');

    await page.click('#tabs button[data-tab=audit]');
    const verified = await page.waitForSelector('#audit-status dd[data-field="Local log"]');
    const auditText = await verified.textContent();
    check(auditText.startsWith('verifies'), `the audit log: ${auditText}`);
    await screenshot(page, 'console-audit');
    console.log(`RESULT ${JSON.stringify({ retry: retryText, audit: auditText })}`);
  } finally {
    await browser.close();
  }
}

async function launch() {
  // Playwright gives every launch a fresh temporary profile (it refuses --user-data-dir
  // for launch()). The network is closed, so everything that phones home is off.
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

const phases = { decide, replay };
const phase = phases[process.argv[2]];
if (!phase) {
  console.error(`usage: node console.mjs ${Object.keys(phases).join('|')}`);
  process.exit(2);
}
try {
  await phase();
} catch (error) {
  console.error(`console.mjs ${process.argv[2]} failed: ${error.stack || error}`);
  process.exitCode = 1;
}
