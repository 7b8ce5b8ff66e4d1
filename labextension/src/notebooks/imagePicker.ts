/**
 * The image a notebook step runs on, chosen in JupyterLab: on a workbench that offers runtime
 * images for pipeline steps (Open Data Hub and OpenShift AI, as Elyra reads them), "Run as
 * Pipeline Step…" and "Upload as Pipeline…" first ask which one. The choice starts at the
 * notebook's own (its `jupyter_dsp.image` metadata) or the workbench's Python; choosing
 * another compiles the notebook again on it. Without runtime images nothing is asked.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

export interface IRuntimeImage {
  name: string;
  display_name: string;
  image: string;
}

/** The value kept for "the image it has now" (the notebook's choice or the default). */
const CURRENT = '';

/** A select of the runtime images, plus the step's current image when it is none of them. */
export class ImageChoice extends Widget implements Dialog.IBodyWidget<string> {
  private readonly select: HTMLSelectElement;

  constructor(fileName: string, current: string, images: IRuntimeImage[]) {
    super();
    this.addClass('jp-DSP-imageChoice');
    const label = document.createElement('label');
    label.className = 'jp-DSP-field';
    const title = document.createElement('span');
    title.className = 'jp-DSP-field-label';
    title.textContent = `The step of ${fileName} runs on`;
    this.select = document.createElement('select');
    this.select.className = 'jp-mod-styled';
    this.select.setAttribute('aria-label', 'Runtime image');
    const known = images.find(i => i.image === current);
    if (!known) {
      this.select.appendChild(option(CURRENT, `${current} (the notebook's)`));
    }
    for (const image of images) {
      this.select.appendChild(option(image.name, image.display_name, image.image));
    }
    this.select.value = known ? known.name : CURRENT;
    const reference = document.createElement('code');
    reference.className = 'jp-DSP-imageReference';
    const show = (): void => {
      reference.textContent = images.find(i => i.name === this.select.value)?.image ?? current;
    };
    this.select.addEventListener('change', show);
    show();
    const help = document.createElement('span');
    help.className = 'jp-DSP-field-help';
    help.textContent =
      "The workbench's runtime images for pipeline steps. A notebook can name its own in its " +
      'metadata: "jupyter_dsp": {"image": "<runtime image or image reference>"}.';
    label.append(title, this.select, reference, help);
    this.node.appendChild(label);
  }

  /** The chosen runtime image's name, or '' for the image the step has now. */
  getValue(): string {
    return this.select.value;
  }
}

function option(value: string, text: string, image?: string): HTMLOptionElement {
  const made = document.createElement('option');
  made.value = value;
  made.textContent = text;
  if (image) {
    made.title = image;
  }
  return made;
}

/**
 * Ask which image the step runs on. Resolves to undefined when the user cancels, '' to keep
 * the step's current image, or a runtime image's name.
 */
export async function askImage(
  fileName: string,
  current: string,
  images: IRuntimeImage[],
  action: string
): Promise<string | undefined> {
  if (images.length === 0) {
    return CURRENT;
  }
  const result = await showDialog({
    title: `${action} ${fileName}`,
    body: new ImageChoice(fileName, current, images),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Next' })],
    focusNodeSelector: 'select'
  });
  return result.button.accept ? (result.value ?? CURRENT) : undefined;
}
