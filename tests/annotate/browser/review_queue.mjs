// A scripted reviewer walks a dataset's queue in the Argilla web UI: for each record it waits for the
// record to show, clicks one answer (e.g. "Accept") and submits, until the queue is empty or LIMIT is reached.
// Input (environment): REVIEW_URL, REVIEW_USER, REVIEW_PASSWORD, REVIEW_DATASET_ID, REVIEW_ANSWER,
// REVIEW_LIMIT, REVIEW_PROFILE. Output: one JSON line: {"submitted": n, "ms": [per record]}.
import { env, signedIn } from './session.mjs';

const url = env('REVIEW_URL');
const limit = Number(env('REVIEW_LIMIT'));
const { context, page } = await signedIn();
const ms = [];
// What identifies the record on screen: its fields' text (the empty queue shows none).
const recordText = () => page.evaluate(() => document.querySelector('.record__content')?.innerText ?? '');
try {
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
