// Logs in to the Argilla web UI as an annotator, checks the evidence span is highlighted,
// corrects the model output of the first record in the queue and submits it.
// Input (environment): REVIEW_URL, REVIEW_USER, REVIEW_PASSWORD, REVIEW_DATASET_ID, REVIEW_CORRECTION,
// REVIEW_SCREENSHOT, REVIEW_PROFILE (a fresh --user-data-dir). Output: one JSON line on stdout.
import fs from 'node:fs';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const url = env('REVIEW_URL');
const profile = env('REVIEW_PROFILE');
fs.rmSync(profile, { recursive: true, force: true });

const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(60000);
  await page.goto(`${url}/sign-in`);
  await page.getByLabel('Username').fill(env('REVIEW_USER'));
  await page.getByLabel('Password').fill(env('REVIEW_PASSWORD'));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.includes('sign-in'));

  await page.goto(`${url}/dataset/${env('REVIEW_DATASET_ID')}/annotation-mode`);
  const mark = page.locator('mark').first();
  await mark.waitFor();
  const markText = await mark.textContent();

  await page.getByText('Accept', { exact: true }).click();
  const editor = page.locator('[contenteditable="true"]').first();
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.type(env('REVIEW_CORRECTION'));
  await page.screenshot({ path: env('REVIEW_SCREENSHOT'), fullPage: true });

  const saved = page.waitForResponse(
    (r) => /\/responses/.test(r.url()) && ['POST', 'PUT'].includes(r.request().method()) && r.ok(),
  );
  await page.locator('button.button--submit').click();
  await saved;
  console.log(JSON.stringify({ mark: markText }));
} finally {
  await context.close();
}
