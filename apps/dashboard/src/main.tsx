import { render } from 'preact';
import { App } from './app';
import './styles.css';

const root = document.getElementById('app') as HTMLElement;
// The loading note in index.html goes; Preact would otherwise keep it beside the app.
root.textContent = '';
render(<App />, root);
