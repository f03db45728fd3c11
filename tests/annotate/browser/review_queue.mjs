// A scripted reviewer walks a dataset's queue in the Argilla web UI: for each record it waits for the
// record to show, clicks one answer (e.g. "Accept") and submits, until the queue is empty or LIMIT is reached.
// Input (environment): REVIEW_URL, REVIEW_USER, REVIEW_PASSWORD, REVIEW_DATASET_ID, REVIEW_ANSWER,
// REVIEW_LIMIT, REVIEW_PROFILE. Output: one JSON line: {"submitted": n, "ms": [per record]}.
import fs from 'node:fs';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const url = env('REVIEW_URL');
const limit = Number(env('REVIEW_LIMIT'));
const profile = env('REVIEW_PROFILE');
fs.rmSync(profile, { recursive: true, force: true });
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 1000 },
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(60000);
const ms = [];
// What identifies the record on screen: its fields' text (the empty queue shows none).
const recordText = () => page.evaluate(() => document.querySelector('.record__content')?.innerText ?? '');
try {
  await page.goto(`${url}/sign-in`);
  await page.getByLabel('Username').fill(env('REVIEW_USER'));
  await page.getByLabel('Password').fill(env('REVIEW_PASSWORD'));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.includes('sign-in'));
  await page.goto(`${url}/dataset/${env('REVIEW_DATASET_ID')}/annotation-mode`);
  const answer = page.getByText(env('REVIEW_ANSWER'), { exact: true }).first();
  while (ms.length < limit) {
    const started = Date.now();
    if (await page.getByText('The task is completed').count()) break;
    try {
      await answer.waitFor({ timeout: 15000 });
    } catch {
      break; // the queue is empty
    }
    const shown = await recordText();
    // Select the answer once (a second click would unselect it), then Submit is enabled.
    const label = page.locator('label.label-text', { hasText: env('REVIEW_ANSWER') }).first();
    if (!((await label.getAttribute('class')) ?? '').includes('label-active')) await label.click();
    await page.locator('label.label-text.label-active', { hasText: env('REVIEW_ANSWER') }).first().waitFor();
    await page.locator('button.button--submit:not([disabled])').waitFor();
    const saved = page.waitForResponse(
      (r) => /\/responses/.test(r.url()) && ['POST', 'PUT'].includes(r.request().method()),
    );
    await page.locator('button.button--submit').click();
    const response = await saved;
    if (!response.ok()) throw new Error(`the server refused the answer: ${response.status()} ${response.request().postData()}`);
    // The next record (or the empty queue) has replaced this one.
    await page.waitForFunction(
      (before) => (document.querySelector('.record__content')?.innerText ?? '') !== before
        || document.body.innerText.includes('The task is completed'), shown);
    ms.push(Date.now() - started);
  }
  console.log(JSON.stringify({ submitted: ms.length, ms }));
} catch (error) {
  if (process.env.REVIEW_FAILURE_SHOT) await page.screenshot({ path: process.env.REVIEW_FAILURE_SHOT, fullPage: true });
  throw error;
} finally {
  await context.close();
}
