// Preact, its hooks and htm, re-exported from the vendored standalone ES module.
export {
  html,
  render,
  useCallback,
  useEffect,
  useErrorBoundary,
  useRef,
  useState,
} from "../vendor/htm/preact/standalone.module.js";
