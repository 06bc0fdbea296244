// Renders chat messages into one prompt text with role markers, so requests that share their leading messages
// (a system prompt, earlier turns) share a token prefix and hit the prefix cache, as with a real chat template.
// An assistant turn renders exactly as the prompt's open assistant header followed by the generated text, so the
// next turn of a conversation reuses the blocks that held the previous answer. The messages render exactly as the
// router's prompt text (src/openai/request.ts), so the router's precise prefix scorer hashes the engine's tokens.

export interface ChatMessage {
  role: string;
  content: string;
}

const END = '\n';

function header(role: string): string {
  return `<|${role}|>\n`;
}

export function renderChat(messages: readonly ChatMessage[]): string {
  let text = '';
  for (const m of messages) text += header(m.role) + m.content + END;
  return text + header('assistant');
}
