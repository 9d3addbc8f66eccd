/**
 * Arithmetic through mathjs's parser, restricted to a whitelist of node
 * kinds and functions: the model's input is untrusted, so nothing that can
 * define functions, import, create units or build matrices is evaluated.
 */
import { create, all, type MathNode } from "mathjs";

const math = create(all ?? {}, { number: "number", precision: 64 });

export const MAX_EXPRESSION_LENGTH = 256;

const ALLOWED_FUNCTIONS = new Set([
  "abs", "ceil", "floor", "round", "sqrt", "cbrt", "exp", "log", "log10", "log2",
  "sin", "cos", "tan", "asin", "acos", "atan", "min", "max", "pow", "mod",
]);
const ALLOWED_SYMBOLS = new Set(["pi", "e", "PI", "E"]);
const ALLOWED_OPERATORS = new Set(["+", "-", "*", "/", "^", "%", "unaryMinus", "unaryPlus"]);

export class CalculatorError extends Error {
  override name = "CalculatorError";
}

function check(node: MathNode): void {
  switch (node.type) {
    case "ConstantNode":
      if (typeof (node as MathNode & { value: unknown }).value !== "number") throw new CalculatorError("only numbers are allowed");
      return;
    case "ParenthesisNode":
      return check((node as MathNode & { content: MathNode }).content);
    case "OperatorNode": {
      const op = node as MathNode & { op: string; fn: string; args: MathNode[] };
      if (!ALLOWED_OPERATORS.has(op.op) && !ALLOWED_OPERATORS.has(op.fn)) throw new CalculatorError(`operator ${op.op} is not allowed`);
      op.args.forEach(check);
      return;
    }
    case "FunctionNode": {
      const fn = node as MathNode & { fn: MathNode & { name?: string }; args: MathNode[] };
      const name = fn.fn.name ?? "";
      if (fn.fn.type !== "SymbolNode" || !ALLOWED_FUNCTIONS.has(name)) throw new CalculatorError(`function ${name || "?"} is not allowed`);
      fn.args.forEach(check);
      return;
    }
    case "SymbolNode": {
      const name = (node as MathNode & { name: string }).name;
      if (!ALLOWED_SYMBOLS.has(name)) throw new CalculatorError(`unknown symbol ${name}`);
      return;
    }
    default:
      throw new CalculatorError(`${node.type.replace(/Node$/, "").toLowerCase()} expressions are not allowed`);
  }
}

/** Evaluates an arithmetic expression; throws CalculatorError on anything else. */
export function calculate(expression: string): string {
  const text = expression.trim();
  if (text === "") throw new CalculatorError("empty expression");
  if (text.length > MAX_EXPRESSION_LENGTH) throw new CalculatorError(`expression longer than ${MAX_EXPRESSION_LENGTH} characters`);
  let node: MathNode;
  try {
    node = math.parse(text);
  } catch {
    throw new CalculatorError("not a valid arithmetic expression");
  }
  check(node);
  const value: unknown = node.evaluate();
  if (typeof value !== "number") throw new CalculatorError("the result is not a number");
  if (!Number.isFinite(value)) throw new CalculatorError("the result is not finite");
  return math.format(value, { precision: 14 });
}
