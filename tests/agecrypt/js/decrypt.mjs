// Usage: node decrypt.mjs [--armor] <identity-file>... < in.age > plain
//        node decrypt.mjs [--armor] --passphrase-env VAR < in.age > plain
// Exits non-zero with the error message on stderr if decryption fails.
import { Decrypter, armor } from "age-encryption";
import { readStdin, writeStdout, readIdentityFile, fail } from "./_io.mjs";

const args = process.argv.slice(2);
const d = new Decrypter();
let useArmor = false;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--armor") useArmor = true;
  else if (a === "--passphrase-env") {
    const v = process.env[args[++i]];
    if (v === undefined) fail(`decrypt.mjs: environment variable ${args[i]} is not set`);
    d.addPassphrase(v);
  } else for (const id of readIdentityFile(a)) d.addIdentity(id);
}
let input = await readStdin();
if (useArmor) input = armor.decode(new TextDecoder().decode(input));
try {
  await writeStdout(await d.decrypt(input));
} catch (err) {
  fail(`decrypt.mjs: ${err?.message ?? err}`);
}
