// Usage: node encrypt.mjs [--armor] <recipient>... < plain > out.age
//        node encrypt.mjs [--armor] --passphrase-env VAR [--work-factor N] < plain > out.age
import { Encrypter, armor } from "age-encryption";
import { readStdin, writeStdout, fail } from "./_io.mjs";

const args = process.argv.slice(2);
const e = new Encrypter();
let useArmor = false;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--armor") useArmor = true;
  else if (a === "--passphrase-env") {
    const v = process.env[args[++i]];
    if (v === undefined) fail(`encrypt.mjs: environment variable ${args[i]} is not set`);
    e.setPassphrase(v);
  } else if (a === "--work-factor") e.setScryptWorkFactor(Number(args[++i]));
  else if (a.startsWith("age1")) {
    e.addRecipient(a);
  } else fail(`encrypt.mjs: unexpected argument ${a}`);
}
const plain = await readStdin();
const out = await e.encrypt(plain);
if (useArmor) process.stdout.write(armor.encode(out));
else await writeStdout(out);
