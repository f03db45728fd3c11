// Logs in to the Argilla web UI as an annotator, checks the evidence span is highlighted,
// corrects the model output of the first record in the queue and submits it.
// Input (environment): REVIEW_URL, REVIEW_USER, REVIEW_PASSWORD, REVIEW_DATASET_ID, REVIEW_CORRECTION,
// REVIEW_SCREENSHOT, REVIEW_PROFILE (a fresh --user-data-dir). Output: one JSON line on stdout.
import { env, signedIn } from './session.mjs';

const url = env('REVIEW_URL');
const { context, page } = await signedIn(900);
try {
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
