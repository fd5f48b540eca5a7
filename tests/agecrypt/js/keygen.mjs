// Usage: node keygen.mjs [--hybrid|--x25519]
//   prints "<identity>\n<recipient>\n" (identity: AGE-SECRET-KEY-[PQ-]1..., recipient: age1[pq1]...)
// Usage: node keygen.mjs --to-recipient < identity-file
//   prints the recipient of each identity line read from stdin (one per line).
import { generateHybridIdentity, generateX25519Identity, identityToRecipient } from "age-encryption";
import { readStdin, fail } from "./_io.mjs";

const args = process.argv.slice(2);
if (args[0] === "--to-recipient") {
  const text = new TextDecoder().decode(await readStdin());
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  for (const line of lines) process.stdout.write(`${await identityToRecipient(line)}\n`);
} else {
  const kind = args[0] ?? "--x25519";
  let identity;
  if (kind === "--hybrid") identity = await generateHybridIdentity();
  else if (kind === "--x25519") identity = await generateX25519Identity();
  else fail(`keygen.mjs: unknown option ${kind}`);
  process.stdout.write(`${identity}\n${await identityToRecipient(identity)}\n`);
}
