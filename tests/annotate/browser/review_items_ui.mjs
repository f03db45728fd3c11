// An annotator reviews items in the Argilla web UI: corrects the first item's summary and accepts it,
// rejects the second, then in the missed-items dataset marks a passage the model missed.
// Input (environment): REVIEW_URL, REVIEW_USER, REVIEW_PASSWORD, REVIEW_ITEMS_ID, REVIEW_MISSED_ID,
// REVIEW_CORRECTION, REVIEW_MISSED_TEXT, REVIEW_MISSED_LABEL, REVIEW_SHOTS (a folder), REVIEW_PROFILE.
// Output: one JSON line on stdout with what the page showed and how long each decision took.
import fs from 'node:fs';
import path from 'node:path';
import { env, signedIn } from './session.mjs';

const url = env('REVIEW_URL');
const shots = env('REVIEW_SHOTS');
fs.mkdirSync(shots, { recursive: true });
const { context, page } = await signedIn();
const result = { timings_ms: {} };

const submitted = () =>
  page.waitForResponse((r) => /\/responses/.test(r.url()) && ['POST', 'PUT'].includes(r.request().method()) && r.ok());

async function submit(name, started) {
  const saved = submitted();
  await page.locator('button.button--submit').click();
  await saved;
  result.timings_ms[name] = Date.now() - started;
}

try {
  // 1. The first item in reading order: its evidence highlighted, the model's answers filled in.
  await page.goto(`${url}/dataset/${env('REVIEW_ITEMS_ID')}/annotation-mode`);
  let started = Date.now();
  const mark = page.locator('mark').first();
  await mark.waitFor();
  result.first_mark = await mark.textContent();
  await page.getByText('Accept', { exact: true }).click();
  const summary = page.locator('[contenteditable="true"]').first();
  await summary.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.type(env('REVIEW_CORRECTION'));
  await page.screenshot({ path: path.join(shots, 'review_item.png'), fullPage: true });
  await submit('correct_and_accept', started);

  // 2. The next item: rejected.
  started = Date.now();
  await page.waitForFunction((first) => {
    const m = document.querySelector('mark');
    return m && m.textContent !== first;
  }, result.first_mark);
  result.second_mark = await page.locator('mark').first().textContent();
  await page.getByText('Reject', { exact: true }).click();
  await submit('reject', started);

  // 3. The missed-items pass: choose the label, drag over the passage the model missed, say so, submit.
  await page.goto(`${url}/dataset/${env('REVIEW_MISSED_ID')}/annotation-mode`);
  started = Date.now();
  const wanted = env('REVIEW_MISSED_TEXT');
  await page.getByText(wanted.slice(0, 30)).first().waitFor();
  await page.getByText(env('REVIEW_MISSED_LABEL'), { exact: true }).first().click();
  const box = await page.evaluate((text) => {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const at = node.textContent.indexOf(text);
      if (at < 0) continue;
      const range = document.createRange();
      range.setStart(node, at);
      range.setEnd(node, at + text.length);
      const rects = [...range.getClientRects()].filter((r) => r.width > 0);
      const first = rects[0];
      const last = rects[rects.length - 1];
      return { x0: first.left + 1, y0: first.top + first.height / 2, x1: last.right - 1, y1: last.top + last.height / 2 };
    }
    return null;
  }, wanted);
  if (!box) throw new Error(`passage not on the page: ${wanted}`);
  await page.mouse.move(box.x0, box.y0);
  await page.mouse.down();
  await page.mouse.move(box.x1, box.y1, { steps: 8 });
  await page.mouse.up();
  await page.getByText('I marked what was missed', { exact: true }).click();
  await page.screenshot({ path: path.join(shots, 'review_missed.png'), fullPage: true });
  await submit('mark_missed', started);
  console.log(JSON.stringify(result));
} catch (error) {
  await page.screenshot({ path: path.join(shots, 'failure.png'), fullPage: true }).catch(() => {});
  fs.writeFileSync(path.join(shots, 'failure.html'), await page.content().catch(() => ''));
  throw error;
} finally {
  await context.close();
}
