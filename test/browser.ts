/**
 * A real headless Chromium for tests that open what a user opens (the report page). Debian's
 * `chromium` package (installed by .ci/run) driven by playwright-core; its own browser download
 * does not work on machines without the internet. The flags keep Chromium off the network.
 */
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

export const CHROMIUM = process.env.OSRM_CHROMIUM ?? "/usr/bin/chromium";

export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set OSRM_CHROMIUM): the browser check is skipped`;
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ], // playwright gives every launch a fresh, empty profile of its own

  });
}

export interface PageCheck {
  errors: string[];
  images: { alt: string; decoded: boolean; width: number }[];
  rows: Record<string, number>;
}

/** Opens a local HTML file and reports its console errors, whether every image decodes, and row counts of tables by id. */
export async function checkPage(file: string, tables: string[]): Promise<PageCheck> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`file://${file}`, { waitUntil: "load" });
    const images = await page.evaluate(async () =>
      Promise.all(
        Array.from(document.images).map(async (img) => {
          const decoded = await img.decode().then(() => true, () => false);
          return { alt: img.alt, decoded, width: img.naturalWidth };
        }),
      ),
    );
    const rows: Record<string, number> = {};
    for (const id of tables) rows[id] = await page.locator(`#${id} tbody tr`).count();
    return { errors, images, rows };
  } finally {
    await browser.close();
  }
}
