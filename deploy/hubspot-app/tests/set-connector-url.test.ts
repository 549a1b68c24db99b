/** `npm run set-url` changes the card's address and the app's permittedUrls together. */
import { cpSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain ES module script without types
import { setConnectorUrl } from "../scripts/set-connector-url.mjs";

function copyOfTheProject(): string {
  const root = mkdtempSync(join(tmpdir(), "hubspot-app-"));
  cpSync(new URL("../src", import.meta.url), join(root, "src"), { recursive: true });
  return root;
}

describe("set-url", () => {
  it("writes the origin into the card and every permittedUrls list", () => {
    const root = copyOfTheProject();
    expect(setConnectorUrl(root, "https://mms.acme.com/")).toBe("https://mms.acme.com");
    const config = readFileSync(join(root, "src/app/cards/config.ts"), "utf8");
    expect(config).toContain('MMS_CONNECTOR_URL = "https://mms.acme.com";');
    const app = JSON.parse(readFileSync(join(root, "src/app/app-hsmeta.json"), "utf8"));
    expect(app.config.permittedUrls).toEqual({
      fetch: ["https://mms.acme.com"],
      iframe: ["https://mms.acme.com"],
      img: ["https://mms.acme.com"],
    });
  });

  it.each([
    ["http://mms.acme.com", "must be https"],
    ["https://mms.acme.com/connector", "origin only"],
    ["mms.acme.com", "not a URL"],
  ])("refuses %s", (raw, words) => {
    const root = copyOfTheProject();
    expect(() => setConnectorUrl(root, raw)).toThrow(words);
    expect(readFileSync(join(root, "src/app/cards/config.ts"), "utf8")).toContain(
      "https://mms.example.com",
    );
  });
});
