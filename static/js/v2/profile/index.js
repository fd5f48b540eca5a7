// Registers the profile page (/me/) with the shell's router.
import { router } from "../router.js";

import { PROFILE } from "../strings.js";
import { mountProfile } from "./view.js";

router.register("profile", "/me/", { access: "signed-in", title: PROFILE.pageTitle,
  mount: (root, context) => mountProfile(root, context) });
