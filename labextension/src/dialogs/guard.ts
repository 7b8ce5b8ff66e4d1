/**
 * Keep a JupyterLab dialog open while its form is invalid: the Dialog closes on
 * its accept button or Enter, with no validation hook, so a document-level
 * capture listener (which runs before the dialog's own) stops those events and
 * lets the form show what is wrong instead.
 */
import { IDisposable } from '@lumino/disposable';
import { Widget } from '@lumino/widgets';

export function guardAccept(body: Widget, isValid: () => boolean): IDisposable {
  const inDialog = (target: EventTarget | null): Element | null => {
    const dialog = body.node.closest('.jp-Dialog');
    return dialog && target instanceof Element && dialog.contains(target) ? target : null;
  };
  const onClick = (event: MouseEvent): void => {
    const target = inDialog(event.target);
    const button = target?.closest('.jp-Dialog-button');
    if (button && button.classList.contains('jp-mod-accept') && !isValid()) {
      event.stopPropagation();
      event.preventDefault();
    }
  };
  const onKeydown = (event: KeyboardEvent): void => {
    if (event.key !== 'Enter') {
      return;
    }
    const target = inDialog(event.target);
    if (!target || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT') {
      return;
    }
    const button = target.closest('.jp-Dialog-button');
    if (button && !button.classList.contains('jp-mod-accept')) {
      return;
    }
    if (!isValid()) {
      event.stopPropagation();
      event.preventDefault();
    }
  };
  document.addEventListener('click', onClick, true);
  document.addEventListener('keydown', onKeydown, true);
  let disposed = false;
  return {
    get isDisposed() {
      return disposed;
    },
    dispose() {
      if (!disposed) {
        disposed = true;
        document.removeEventListener('click', onClick, true);
        document.removeEventListener('keydown', onKeydown, true);
      }
    }
  };
}
