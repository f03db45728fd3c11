// What every browser script shares: reading its settings, a fresh Chromium profile, signing in.
import fs from 'node:fs';
import { chromium } from 'playwright-core';

export const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

// Debian's chromium in a fresh profile (REVIEW_PROFILE), signed in to REVIEW_URL as REVIEW_USER.
export async function signedIn(height = 1000) {
  const profile = env('REVIEW_PROFILE');
  fs.rmSync(profile, { recursive: true, force: true });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height },
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(60000);
  await page.goto(`${env('REVIEW_URL')}/sign-in`);
  await page.getByLabel('Username').fill(env('REVIEW_USER'));
  await page.getByLabel('Password').fill(env('REVIEW_PASSWORD'));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.includes('sign-in'));
  return { context, page };
}
