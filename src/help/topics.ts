// `tcb help TOPIC`: the guides shipped as Markdown beside the code (src/help/topics, copied into
// dist/help/topics by the build), printed styled on a terminal and as plain text elsewhere.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.js';

/** Where the topic files are: the nearest `help/topics` above this module (works bundled or not). */
export function topicsDirectory(start: string = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = start;
  for (let depth = 0; depth < 5; depth += 1) {
    for (const candidate of [path.join(dir, 'topics'), path.join(dir, 'help', 'topics')]) {
      if (existsSync(path.join(candidate, 'exit-codes.md'))) return candidate;
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`the help topics are missing from this installation (looked above ${start})`);
}

export interface Topic {
  name: string;
  title: string;
}

export function listTopics(dir: string = topicsDirectory()): Topic[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.md'))
    .map((file) => {
      const name = file.slice(0, -3);
      const first = readFileSync(path.join(dir, file), 'utf8').split('\n', 1)[0] ?? '';
      return { name, title: first.replace(/^#\s*/, '').trim() };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function readTopic(name: string, dir: string = topicsDirectory()): string {
  const topics = listTopics(dir);
  const found = topics.find((t) => t.name === name.toLowerCase());
  if (!found) {
    throw new UsageError(`no help topic or command "${name}"`, {
      hint: `topics: ${topics.map((t) => t.name).join(', ')}; commands: tcb --help`,
    });
  }
  return readFileSync(path.join(dir, `${found.name}.md`), 'utf8');
}

export interface Style {
  heading(text: string, level: number): string;
  code(text: string): string;
  strong(text: string): string;
}

export const PLAIN: Style = {
  heading: (text, level) => (level === 1 ? `${text}\n${'='.repeat(Math.min(text.length, 78))}` : `${text}\n${'-'.repeat(Math.min(text.length, 78))}`),
  code: (text) => text,
  strong: (text) => text,
};

/**
 * Markdown → terminal text. Only what the topics use: headings, fenced code (indented), `code`,
 * **strong**, [links](url), tables and lists (kept as they are: they read well as text).
 */
export function renderMarkdown(markdown: string, style: Style = PLAIN): string {
  const out: string[] = [];
  let text: string[] = [];
  const flushText = () => {
    // Inline markup may wrap across lines within a paragraph, so it is replaced block by block.
    const block = text.join('\n');
    text = [];
    for (const line of block.split('\n')) {
      const heading = /^(#{1,6})\s+(.*)$/.exec(line);
      out.push(heading ? style.heading(inline(heading[2]!, PLAIN), heading[1]!.length) : line);
    }
  };
  let fenced = false;
  const lines = markdown.replace(/\r\n/g, '\n').split('\n');
  for (const line of lines) {
    if (/^```/.test(line)) {
      if (!fenced) {
        text = inline(text.join('\n'), style).split('\n');
        flushText();
      }
      fenced = !fenced;
      continue;
    }
    if (fenced) out.push(`    ${style.code(line)}`);
    else text.push(line);
  }
  text = inline(text.join('\n'), style).split('\n');
  flushText();
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n').trim()}\n`;
}

function inline(text: string, style: Style): string {
  return text
    .replace(/\[([^\]]+)\]\(([^)]+)\)/g, '$1 ($2)')
    .replace(/\*\*([^*]+)\*\*/g, (_m, inner: string) => style.strong(inner))
    .replace(/`([^`]+)`/g, (_m, inner: string) => style.code(inner));
}
